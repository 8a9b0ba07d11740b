package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestParsePrivateKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	sec1, err1 := x509.MarshalECPrivateKey(ec)
	pkcs8EC, err2 := x509.MarshalPKCS8PrivateKey(ec)
	pkcs8Ed, err3 := x509.MarshalPKCS8PrivateKey(ed)
	tests := []struct {
		name    string
		data    []byte
		want    string // %T of the signer, or "" for an error
		wantErr string
	}{
		{"SEC1", block("EC PRIVATE KEY", sec1, err1), "*ecdsa.PrivateKey", ""},
		{"PKCS#8 ECDSA", block("PRIVATE KEY", pkcs8EC, err2), "*ecdsa.PrivateKey", ""},
		{"PKCS#8 Ed25519", block("PRIVATE KEY", pkcs8Ed, err3), "ed25519.PrivateKey", ""},
		{"PKCS#1 RSA", block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil), "*rsa.PrivateKey", ""},
		{"certificate", block("CERTIFICATE", []byte{1, 2, 3}, nil), "", `PEM block "CERTIFICATE" is not a private key`},
		{"garbled DER", block("EC PRIVATE KEY", []byte{1, 2, 3}, nil), "", "parse EC PRIVATE KEY: "},
		{"SEC1 under the PKCS#1 label", block("RSA PRIVATE KEY", sec1, err1), "", "parse RSA PRIVATE KEY: "},
		{"no PEM", []byte("just text"), "", ErrNoPEM.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrivateKey = %T, %v; want an error with %q", k, err, tt.wantErr)
				}
				if tt.name == "no PEM" && !errors.Is(err, ErrNoPEM) {
					t.Errorf("error %v does not wrap ErrNoPEM", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(k); got != tt.want {
				t.Errorf("ParsePrivateKey gave %s, want %s", got, tt.want)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *ecdsa.PrivateKey:
		return "*ecdsa.PrivateKey"
	case *rsa.PrivateKey:
		return "*rsa.PrivateKey"
	case ed25519.PrivateKey:
		return "ed25519.PrivateKey"
	}
	return "other"
}
