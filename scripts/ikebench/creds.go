package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/scripts/interop"
)

// credFiles are the PEM files a credential directory holds: what the
// in-process handshake program (possibly a 386 binary under qemu) reads,
// so it needs neither alixca nor the interop package at run time.
const (
	rootFile      = "root.crt"
	interFile     = "intermediate.crt"
	initiatorName = interop.HostMoon // the load generator authenticates as moon
	responderName = interop.HostSun  // both responders authenticate as sun
)

// writeCredDir writes the main CA's root and intermediate and the moon and
// sun certificates and keys of p into dir.
func writeCredDir(p *interop.PKI, dir string) error {
	files := map[string][]byte{rootFile: p.Main.Root.PEM, interFile: p.Main.Intermediate.PEM}
	for _, h := range []string{initiatorName, responderName} {
		creds, ok := p.Hosts[h]
		if !ok {
			return fmt.Errorf("test PKI has no host %s", h)
		}
		files[h+".crt"], files[h+".key"] = creds.Cert, creds.Key
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write credentials: %w", err)
		}
	}
	return nil
}

// hostCreds is what one engine needs to authenticate and to verify its
// peer: its credentials, the trust store and its own identity string.
type hostCreds struct {
	creds ike.Credentials
	trust *pki.TrustStore
	id    string // subject DN, as a peer's remote-id
}

// loadHost reads host's certificate and key and the CA certificates from
// a directory written by writeCredDir.
func loadHost(dir, host string) (*hostCreds, error) {
	read := func(name string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("load credentials of %s: %w", host, err)
		}
		return data, nil
	}
	cert := func(name string) (*x509.Certificate, error) {
		data, err := read(name)
		if err != nil {
			return nil, err
		}
		certs, err := pki.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("load credentials of %s: %s: no certificate (%v)", host, name, err)
		}
		return certs[0], nil
	}
	root, err := cert(rootFile)
	if err != nil {
		return nil, err
	}
	inter, err := cert(interFile)
	if err != nil {
		return nil, err
	}
	leaf, err := cert(host + ".crt")
	if err != nil {
		return nil, err
	}
	keyPEM, err := read(host + ".key")
	if err != nil {
		return nil, err
	}
	key, err := pki.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load credentials of %s: %s.key: %w", host, host, err)
	}
	trust, err := pki.NewTrustStore(pki.TrustConfig{
		Roots: []*x509.Certificate{root}, Intermediates: []*x509.Certificate{inter}, CRLPolicy: pki.CRLRelaxed,
	})
	if err != nil {
		return nil, fmt.Errorf("load credentials of %s: %w", host, err)
	}
	return &hostCreds{
		creds: ike.Credentials{Key: key, Cert: leaf, Intermediates: []*x509.Certificate{inter}},
		trust: trust,
		id:    pki.DNString(leaf.RawSubject),
	}, nil
}
