package model

import (
	"bytes"
	"crypto/x509"
	"strings"
	"time"

	"alixsec.dev/ikesvc/pki"
)

// The checks of the ipsec PKI material that both a board's commit and
// `ikesvc -config FILE` run. What does not depend on the clock is an error
// (validateChain, called by Validate); what does is a warning
// (TimeWarnings): a board whose clock is not set yet must still be able to
// commit, and the warning heals once the clock is right.

// validateChain checks that ipsec certificate chains, by issuer and
// signature, through the configured ipsec ca-certificates to a root among
// them: without that ikesvc cannot prove its identity to any peer that
// trusts the same CAs. Unparsable PEM is reported by the per-value checks.
func (c *Config) validateChain() error {
	ip := &c.IPsec
	leaf := c.ipsecCertificate()
	if leaf == nil || len(ip.CACertificates) == 0 {
		return nil
	}
	var cas []*x509.Certificate
	for _, name := range ip.CACertificates {
		cas = append(cas, c.caCertificates(name)...)
	}
	path := []string{"ipsec", "certificate"}
	cur := leaf
	for range len(cas) + 1 {
		if cur != leaf && bytes.Equal(cur.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(cur) == nil {
			return nil
		}
		var next *x509.Certificate
		for _, ca := range cas {
			if bytes.Equal(ca.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(ca) == nil {
				next = ca
				break
			}
		}
		if next == nil {
			return pathErr(path, ip.Certificate, "does not chain to a configured CA: %q is issued by %q, which is not among ipsec ca-certificate %s",
				pki.DNString(cur.RawSubject), pki.DNString(cur.RawIssuer), strings.Join(ip.CACertificates, ", "))
		}
		cur = next
	}
	return pathErr(path, ip.Certificate, "does not chain to a configured root CA (the chain loops)")
}

// TimeWarnings lists what is wrong with the ipsec PKI material at now: a
// certificate (own or CA) outside its validity period, a CRL before its
// this-update or past its next-update. Each warning is a *PathError naming
// the item.
func (c *Config) TimeWarnings(now time.Time) []error {
	ip := &c.IPsec
	var out []error
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	validity := func(path []string, name string, cert *x509.Certificate) {
		switch {
		case now.Before(cert.NotBefore):
			out = append(out, pathErr(path, name, "certificate %q not yet valid: valid from %s, clock says %s", pki.DNString(cert.RawSubject), stamp(cert.NotBefore), stamp(now)))
		case now.After(cert.NotAfter):
			out = append(out, pathErr(path, name, "certificate %q expired: valid until %s, clock says %s", pki.DNString(cert.RawSubject), stamp(cert.NotAfter), stamp(now)))
		}
	}
	if cert := c.ipsecCertificate(); cert != nil {
		validity([]string{"ipsec", "certificate"}, ip.Certificate, cert)
	}
	for _, name := range ip.CACertificates {
		for _, ca := range c.caCertificates(name) {
			validity([]string{"ipsec", "ca-certificate"}, name, ca)
		}
	}
	for _, name := range ip.CRLs {
		crl, err := pki.ParseCRL([]byte(c.PKI.CRLs[name]))
		if err != nil {
			continue
		}
		path := []string{"ipsec", "crl"}
		switch {
		case now.Before(crl.ThisUpdate):
			out = append(out, pathErr(path, name, "CRL from %q not yet valid: this update %s, clock says %s", pki.DNString(crl.RawIssuer), stamp(crl.ThisUpdate), stamp(now)))
		case !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate):
			out = append(out, pathErr(path, name, "CRL from %q is past its next update %s (clock says %s): publish and load a fresh one", pki.DNString(crl.RawIssuer), stamp(crl.NextUpdate), stamp(now)))
		}
	}
	sortErrors(out)
	return out
}

// ipsecCertificate is the parsed ipsec certificate, or nil when it is not
// set or does not parse (the per-value checks report that).
func (c *Config) ipsecCertificate() *x509.Certificate {
	data, ok := c.PKI.Certificates[c.IPsec.Certificate]
	if !ok {
		return nil
	}
	certs, err := pki.ParseCertificates([]byte(data))
	if err != nil || len(certs) == 0 {
		return nil
	}
	return certs[0]
}

// caCertificates parses pki ca-certificate name; nil when it is missing.
func (c *Config) caCertificates(name string) []*x509.Certificate {
	data, ok := c.PKI.CACertificates[name]
	if !ok {
		return nil
	}
	certs, _ := pki.ParseCertificates([]byte(data))
	return certs
}
