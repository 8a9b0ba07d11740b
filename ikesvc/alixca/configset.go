package main

import (
	"crypto/x509"
	"fmt"
	"strings"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/pki"
)

// bundleConfig is what config.set describes: the host's PKI material by
// name and the ipsec settings that use it.
type bundleConfig struct {
	host        string
	cert        *x509.Certificate
	key         []byte // PEM; nil when the key is not in the bundle
	root, inter *x509.Certificate
	crls        map[string]*x509.RevocationList // by CA file stem
}

// setLines renders config.set. This is the only place that knows the config
// schema: each line goes through configsvc's own model (so every value is
// checked exactly as `set` on the board checks it) and configsvc's settext
// writes the text, so the file always matches the schema of this tree.
func (b bundleConfig) setLines() ([]byte, error) {
	lines := [][]string{
		{"system", "hostname", strings.SplitN(b.host, ".", 2)[0]},
		{"pki", "ca-certificate", rootName, string(pki.EncodeCertificatePEM(b.root))},
		{"pki", "ca-certificate", interName, string(pki.EncodeCertificatePEM(b.inter))},
		{"ipsec", "ca-certificate", rootName},
		{"ipsec", "ca-certificate", interName},
		{"ipsec", "local-id", pki.DNString(b.cert.RawSubject)},
	}
	// Without the key the certificate is of no use on a new card: the board
	// makes its own key on first boot (pki generate key), and the CLI asks
	// for the certificate issued from its CSR. The .crt stays in the tar.
	if b.key != nil {
		lines = append(lines,
			[]string{"pki", "certificate", b.host, string(pki.EncodeCertificatePEM(b.cert))},
			[]string{"ipsec", "certificate", b.host},
			[]string{"pki", "key", b.host, string(b.key)},
			[]string{"ipsec", "key", b.host})
	}
	for _, name := range []string{rootName, interName} {
		if crl := b.crls[name]; crl != nil {
			lines = append(lines,
				[]string{"pki", "crl", name, string(pki.EncodeCRLPEM(crl))},
				[]string{"ipsec", "crl", name})
		}
	}
	c := &model.Config{}
	for _, l := range lines {
		if err := c.Set(l); err != nil {
			return nil, fmt.Errorf("set %s: %w", strings.Join(l[:len(l)-1], " "), err)
		}
	}
	return settext.Format(c), nil
}
