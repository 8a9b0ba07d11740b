package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"slices"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	tests := []struct {
		typ   string
		check func(any) bool // nil: an error is wanted
	}{
		{"ecdsa-p256", func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve.Params().BitSize == 256 }},
		{"rsa2048", func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 }},
		{"ed25519", func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok }},
		{"p256", nil},
		{"rsa1024", nil},
		{"", nil},
	}
	for _, tt := range tests {
		k, err := GenerateKey(tt.typ)
		if tt.check == nil {
			if err == nil || !strings.Contains(err.Error(), "must be one of") {
				t.Errorf("GenerateKey(%q) = %T, %v; want a must-be-one-of error", tt.typ, k, err)
			}
			continue
		}
		if err != nil || !tt.check(k) {
			t.Errorf("GenerateKey(%q) = %T, %v", tt.typ, k, err)
		}
	}
	for _, typ := range BoardKeyTypes {
		if !slices.Contains(KeyTypes, typ) {
			t.Errorf("board key type %q is not one GenerateKey makes", typ)
		}
	}
	if slices.Contains(BoardKeyTypes, "rsa4096") {
		t.Error("the board offers RSA-4096, which takes many minutes on a Geode")
	}
}
