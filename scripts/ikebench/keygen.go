package main

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"alixsec.dev/ikesvc/pki"
)

// keygenTypes are the key types of the CLI's `pki generate key NAME TYPE`
// (configsvc/shell's keyTypes is pki.BoardKeyTypes too;
// TestKeygenTypesMatchCLI keeps it so).
var keygenTypes = pki.BoardKeyTypes

// generateCLIKey makes a key of type typ as the CLI does: pki.GenerateKey,
// then the PKCS#8 encoding pkiGenerateKey stores.
func generateCLIKey(typ string) ([]byte, error) {
	key, err := pki.GenerateKey(typ)
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
