package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"alixsec.dev/ikesvc/pki"
)

// keyTypes are the -key values; the first is the default ("p256" stands
// for pki's "ecdsa-p256", as do "ecdsa" and "").
var keyTypes = []string{"p256", "rsa2048", "rsa3072", "rsa4096", "ed25519"}

// generateKey makes a private key of the named type.
func generateKey(kind string) (crypto.Signer, error) {
	typ := strings.ToLower(kind)
	switch typ {
	case "", "p256", "ecdsa":
		typ = "ecdsa-p256"
	}
	if !slices.Contains(pki.KeyTypes, typ) {
		return nil, fmt.Errorf("unknown key type %q (want one of %s)", kind, strings.Join(keyTypes, ", "))
	}
	return pki.GenerateKey(typ)
}

// encodeKey returns key as PKCS#8 PEM.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// describeKey names a public key for list and show output.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// samePublicKey reports whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
