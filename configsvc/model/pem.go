package model

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"alixsec.dev/ikesvc/pki"
)

// decodeOnePEM decodes exactly one PEM block of one of the given types and
// returns it with its canonical encoding.
func decodeOnePEM(s string, types ...string) (*pem.Block, string, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, "", fmt.Errorf("no PEM block found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, "", fmt.Errorf("data after the first PEM block")
	}
	if !inList(block.Type, types) {
		return nil, "", fmt.Errorf("PEM type %q, want %s", block.Type, strings.Join(types, " or "))
	}
	if len(block.Headers) != 0 {
		return nil, "", fmt.Errorf("encrypted or annotated PEM (headers) is not supported")
	}
	return block, string(pem.EncodeToMemory(block)), nil
}

func canonPEMKey(s string) (string, error) {
	b, canon, err := decodeOnePEM(s, "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
	if err != nil {
		return "", err
	}
	if _, err := pki.ParsePrivateKey([]byte(canon)); err != nil {
		return "", fmt.Errorf("%s does not parse: %w", b.Type, err)
	}
	return canon, nil
}

func parsePEMCert(s string) (*x509.Certificate, string, error) {
	b, canon, err := decodeOnePEM(s, "CERTIFICATE")
	if err != nil {
		return nil, "", err
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("certificate does not parse: %w", err)
	}
	return c, canon, nil
}

func canonPEMCert(s string) (string, error) {
	_, canon, err := parsePEMCert(s)
	return canon, err
}

func canonPEMCA(s string) (string, error) {
	c, canon, err := parsePEMCert(s)
	if err != nil {
		return "", err
	}
	if !c.BasicConstraintsValid || !c.IsCA {
		return "", fmt.Errorf("certificate %q is not a CA", c.Subject)
	}
	return canon, nil
}

func canonPEMCRL(s string) (string, error) {
	b, canon, err := decodeOnePEM(s, "X509 CRL")
	if err != nil {
		return "", err
	}
	if _, err := x509.ParseRevocationList(b.Bytes); err != nil {
		return "", fmt.Errorf("CRL does not parse: %w", err)
	}
	return canon, nil
}
