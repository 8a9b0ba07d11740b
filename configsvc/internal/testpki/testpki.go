// Package testpki makes small ECDSA PKI material (a CA, end-entity keys and
// certificates, a CRL) for tests of the config model and its users.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// PKI is PEM text for one CA and the end entities it signed.
type PKI struct {
	CA, CRL string
	Keys    map[string]string // by common name
	Certs   map[string]string // by common name
}

// New makes a CA "alixsec test CA" and one key and certificate per common
// name, with subjects "C=CH, O=alixsec, CN=<name>".
func New(names ...string) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"CH"}, Organization: []string{"alixsec"}, CommonName: "alixsec test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(20 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &PKI{CA: encode("CERTIFICATE", caDER), Keys: map[string]string{}, Certs: map[string]string{}}
	for i, name := range names {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)),
			Subject:      pkix.Name{Country: []string{"CH"}, Organization: []string{"alixsec"}, CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(20 * 365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			return nil, fmt.Errorf("signing certificate for %s: %w", name, err)
		}
		kd, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		p.Keys[name] = encode("PRIVATE KEY", kd)
		p.Certs[name] = encode("CERTIFICATE", der)
	}
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(20 * 365 * 24 * time.Hour),
	}, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing CRL: %w", err)
	}
	p.CRL = encode("X509 CRL", crlDER)
	return p, nil
}

func encode(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
