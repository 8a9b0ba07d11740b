package hostkey

import (
	"bytes"
	"strings"
	"testing"
)

func TestGenerateFingerprint(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two generated keys are equal")
	}
	fa, err := Fingerprint(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := Fingerprint(b)
	if !strings.HasPrefix(fa, "ED25519 SHA256:") || fa == fb {
		t.Fatalf("fingerprints %q, %q", fa, fb)
	}
	if again, _ := Fingerprint(a); again != fa {
		t.Fatalf("fingerprint not stable: %q then %q", fa, again)
	}
	if _, err := Fingerprint([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed as a host key")
	}
}
