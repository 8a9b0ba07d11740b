// Package hostkey makes and reads the SSH server's ed25519 host key. The
// key is board identity: configsvc makes it on first boot and keeps it in
// the config database beside the revisions (store.Secret), so neither a
// firmware upgrade nor a config rollback changes it.
package hostkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// SecretName is the host key's name in the store's secrets bucket.
const SecretName = "ssh-host-key"

// Generate makes a new ed25519 host key in OpenSSH's PEM format.
func Generate() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ssh host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, fmt.Errorf("encoding ssh host key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// Signer parses a host key made by Generate.
func Signer(pemKey []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(pemKey)
	if err != nil {
		return nil, fmt.Errorf("parsing ssh host key: %w", err)
	}
	return s, nil
}

// Fingerprint describes a host key as OpenSSH prints it,
// "ED25519 SHA256:...", for the console and `show system`.
func Fingerprint(pemKey []byte) (string, error) {
	s, err := Signer(pemKey)
	if err != nil {
		return "", err
	}
	return Describe(s.PublicKey()), nil
}

// Describe names a public key's type and SHA256 fingerprint.
func Describe(k ssh.PublicKey) string {
	kind := k.Type()
	if kind == ssh.KeyAlgoED25519 {
		kind = "ED25519"
	}
	return kind + " " + ssh.FingerprintSHA256(k)
}
