package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
)

// KeyTypes are the private key types GenerateKey makes, the default
// first.
var KeyTypes = []string{"ecdsa-p256", "rsa2048", "rsa3072", "rsa4096", "ed25519"}

// BoardKeyTypes are the ones `pki generate key` offers on the board:
// RSA-4096 is left out, it takes many minutes on a Geode.
var BoardKeyTypes = []string{"ecdsa-p256", "rsa2048", "rsa3072", "ed25519"}

// GenerateKey makes a private key of type typ, one of KeyTypes.
func GenerateKey(typ string) (crypto.Signer, error) {
	switch typ {
	case "ecdsa-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "rsa4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("key type %q: must be one of %s", typ, strings.Join(KeyTypes, ", "))
}
