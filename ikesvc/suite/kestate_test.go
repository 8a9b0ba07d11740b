package suite

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestRestoreKeyExchange(t *testing.T) {
	for _, g := range []DHGroup{DHMODP2048, DHECP256, DHECP384, DHCurve25519} {
		t.Run(g.String(), func(t *testing.T) {
			a, err := NewKeyExchange(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewKeyExchange(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := PrivateKeyBytes(a)
			if err != nil {
				t.Fatal(err)
			}
			back, err := RestoreKeyExchange(g, priv)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.PublicKey(), a.PublicKey()) {
				t.Fatal("restored key pair has another public key")
			}
			want, err := b.SharedSecret(a.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			got, err := back.SharedSecret(b.PublicKey())
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("restored key pair agrees on another secret (%v)", err)
			}
		})
	}
	if _, err := RestoreKeyExchange(DHECP256, nil); err == nil {
		t.Error("an empty private key was accepted")
	}
}
