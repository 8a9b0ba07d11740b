package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrNoPEM is wrapped when text that looks like PEM holds no usable block.
var ErrNoPEM = errors.New("no PEM block found")

// isPEM reports whether data looks like PEM rather than DER.
func isPEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}

// pemBlocks decodes every PEM block of data, requiring each to have type want
// and rejecting trailing text that starts another, truncated, block.
func pemBlocks(data []byte, want ...string) ([][]byte, error) {
	var out [][]byte
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		ok := false
		for _, w := range want {
			ok = ok || block.Type == w
		}
		if !ok {
			return nil, fmt.Errorf("unexpected PEM block %q (want %s)", block.Type, want[0])
		}
		out = append(out, block.Bytes)
	}
	if bytes.Contains(rest, []byte("-----BEGIN ")) {
		return nil, errors.New("truncated or garbled PEM block")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (want %s)", ErrNoPEM, want[0])
	}
	return out, nil
}

// ParseCertificates reads one or more certificates from PEM (CERTIFICATE
// blocks) or from a single DER certificate.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !isPEM(data) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	blocks, err := pemBlocks(data, "CERTIFICATE")
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	out := make([]*x509.Certificate, len(blocks))
	for i, der := range blocks {
		if out[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", i+1, err)
		}
	}
	return out, nil
}

// ParseCRL reads one CRL from PEM (X509 CRL block) or DER.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	der := data
	if isPEM(data) {
		blocks, err := pemBlocks(data, "X509 CRL")
		if err != nil {
			return nil, fmt.Errorf("parse CRL: %w", err)
		}
		if len(blocks) != 1 {
			return nil, fmt.Errorf("parse CRL: %d CRLs in one PEM text, want 1", len(blocks))
		}
		der = blocks[0]
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("parse CRL: %w", err)
	}
	return crl, nil
}

// EncodeCertificatePEM returns cert in PEM.
func EncodeCertificatePEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// EncodeCRLPEM returns crl in PEM.
func EncodeCRLPEM(crl *x509.RevocationList) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw})
}

// ParsePrivateKey reads the first PEM block of data as a private key that
// can sign: PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1
// ("EC PRIVATE KEY"), the forms OpenSSL, alixca and the board write.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, ErrNoPEM
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T keys cannot sign", key)
	}
	return signer, nil
}
