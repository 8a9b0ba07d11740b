package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// keygenTypes are the key types of the CLI's `pki generate key NAME TYPE`
// (keyTypes in configsvc/shell/pki.go, where the CLI lives; that package
// is the whole shell, so the list is copied here and
// TestKeygenTypesMatchCLI keeps the two the same).
var keygenTypes = []string{"ecdsa-p256", "rsa2048", "rsa3072", "ed25519"}

// generateCLIKey makes a key of type typ as the CLI does: the same
// standard-library calls with the same parameters as generateKey in
// configsvc/shell/pki.go, then the PKCS#8 encoding pkiGenerateKey stores.
// (Copied, not imported: importing configsvc/shell would link the whole
// CLI into the measured program.)
func generateCLIKey(typ string) ([]byte, error) {
	var (
		key crypto.Signer
		err error
	)
	switch typ {
	case "ecdsa-p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("key type %q: must be one of %s", typ, strings.Join(keygenTypes, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", typ, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding %s key: %w", typ, err)
	}
	return der, nil
}

// runKeygen generates k keys of type typ, each inside its own gate window,
// so the qemu plugin reports one count per key. No warm-up: the first key
// pays the one-time set-up (tables, pools) as the board's first
// `pki generate key` does, and shows in the max.
func runKeygen(typ string, k int) error {
	if !slices.Contains(keygenTypes, typ) {
		return fmt.Errorf("key type %q: must be one of %s", typ, strings.Join(keygenTypes, ", "))
	}
	for i := 0; i < k; i++ {
		setGate(true)
		der, err := generateCLIKey(typ)
		setGate(false)
		if err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		if len(der) == 0 {
			return fmt.Errorf("key %d: empty PKCS#8 encoding", i)
		}
	}
	return nil
}
