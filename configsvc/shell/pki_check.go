package shell

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/pki"
)

// The checks below decide whether pasted PKI material may be stored. Each
// returns one error whose text is the one line the admin sees.

// describeKey names a public key's algorithm and size for show pki.
func describeKey(pub crypto.PublicKey) (typ string, bits int) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(k.Curve.Params().Name, "-", "")), k.Curve.Params().BitSize
	case *rsa.PublicKey:
		return "rsa", k.N.BitLen()
	case ed25519.PublicKey:
		return "ed25519", 256
	}
	return fmt.Sprintf("%T", pub), 0
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// selfSigned reports whether c is its own issuer (a root).
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// configuredCAs parses every pki ca-certificate, split into roots and
// intermediates as ikesvc splits them.
func configuredCAs(cfg *model.Config) (roots, intermediates []*x509.Certificate, err error) {
	for _, name := range sortedNames(cfg.PKI.CACertificates) {
		certs, err := pki.ParseCertificates([]byte(cfg.PKI.CACertificates[name]))
		if err != nil {
			return nil, nil, fmt.Errorf("configured pki ca-certificate %s: %w", name, err)
		}
		for _, c := range certs {
			if selfSigned(c) {
				roots = append(roots, c)
			} else {
				intermediates = append(intermediates, c)
			}
		}
	}
	return roots, intermediates, nil
}

// configuredCRLs parses every pki crl.
func configuredCRLs(cfg *model.Config) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for _, name := range sortedNames(cfg.PKI.CRLs) {
		crl, err := pki.ParseCRL([]byte(cfg.PKI.CRLs[name]))
		if err != nil {
			return nil, fmt.Errorf("configured pki crl %s: %w", name, err)
		}
		out = append(out, crl)
	}
	return out, nil
}

// alreadyStored names the entry of m holding exactly the DER der, if any.
func alreadyStored(m map[string]string, der []byte) string {
	for _, name := range sortedNames(m) {
		if block, _ := pem.Decode([]byte(m[name])); block != nil && bytes.Equal(block.Bytes, der) {
			return name
		}
	}
	return ""
}

// matchingKey returns the name of the board's key whose public key is
// cert's.
func matchingKey(cfg *model.Config, cert *x509.Certificate) (string, error) {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return "", fmt.Errorf("certificate key type %T is not supported", cert.PublicKey)
	}
	for _, name := range sortedNames(cfg.PKI.Keys) {
		k, err := pki.ParsePrivateKey([]byte(cfg.PKI.Keys[name]))
		if err == nil && pub.Equal(k.Public()) {
			return name, nil
		}
	}
	if len(cfg.PKI.Keys) == 0 {
		return "", errors.New("certificate does not match any key on this board: there is none (pki generate key first)")
	}
	return "", fmt.Errorf("certificate does not match any key on this board (keys: %s)", strings.Join(sortedNames(cfg.PKI.Keys), ", "))
}

// checkCertificate checks an end-entity certificate for import: it must
// belong to one of the board's keys and verify against the configured CAs
// (and CRLs) at now. It returns the name of the matching key.
func checkCertificate(cfg *model.Config, cert *x509.Certificate, now time.Time) (string, error) {
	if cert.BasicConstraintsValid && cert.IsCA {
		return "", errors.New("this is a CA certificate: use pki import ca")
	}
	if name := alreadyStored(cfg.PKI.Certificates, cert.Raw); name != "" {
		return "", fmt.Errorf("this certificate is already stored as pki certificate %s", name)
	}
	key, err := matchingKey(cfg, cert)
	if err != nil {
		return "", err
	}
	roots, inters, err := configuredCAs(cfg)
	if err != nil {
		return "", err
	}
	if len(roots) == 0 {
		return "", fmt.Errorf("cannot verify the certificate (issuer %q): no root CA configured (pki import ca first)", pki.DNString(cert.RawIssuer))
	}
	crls, err := configuredCRLs(cfg)
	if err != nil {
		return "", err
	}
	ts, err := pki.NewTrustStore(pki.TrustConfig{Roots: roots, Intermediates: inters, CRLs: crls, CRLPolicy: pki.CRLRelaxed})
	if err != nil {
		return "", fmt.Errorf("configured CAs: %w", err)
	}
	if _, err := ts.Verify(cert, nil, now); err != nil {
		return "", err
	}
	return key, nil
}

// checkValidAt refuses a certificate outside its validity period.
func checkValidAt(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("certificate %q not yet valid: valid from %s, now %s", pki.DNString(c.RawSubject), c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("certificate %q expired: valid until %s, now %s", pki.DNString(c.RawSubject), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkCA checks a CA certificate for import: basicConstraints CA:TRUE,
// currently valid, and either self-signed (a new trust anchor) or issued
// by a configured CA.
func checkCA(cfg *model.Config, ca *x509.Certificate, now time.Time) error {
	if !ca.BasicConstraintsValid || !ca.IsCA {
		return fmt.Errorf("certificate %q is not a CA (no basicConstraints CA:TRUE): use pki import certificate for a host certificate", pki.DNString(ca.RawSubject))
	}
	if name := alreadyStored(cfg.PKI.CACertificates, ca.Raw); name != "" {
		return fmt.Errorf("this CA is already stored as pki ca-certificate %s", name)
	}
	if err := checkValidAt(ca, now); err != nil {
		return err
	}
	if selfSigned(ca) {
		return nil
	}
	roots, inters, err := configuredCAs(cfg)
	if err != nil {
		return err
	}
	// The trust store's Verify applies end-entity key usage rules, so the
	// chain of a CA is checked with crypto/x509 directly.
	rootPool, interPool := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range roots {
		rootPool.AddCert(c)
	}
	for _, c := range inters {
		interPool.AddCert(c)
	}
	_, err = ca.Verify(x509.VerifyOptions{Roots: rootPool, Intermediates: interPool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var unknown x509.UnknownAuthorityError
	switch {
	case err == nil:
		return checkCANotRevoked(cfg, ca)
	case errors.As(err, &unknown):
		return fmt.Errorf("unknown CA: %q is issued by %q, which is not a configured CA (import that CA first)", pki.DNString(ca.RawSubject), pki.DNString(ca.RawIssuer))
	}
	return fmt.Errorf("CA %q does not verify against the configured CAs: %v", pki.DNString(ca.RawSubject), err)
}

// checkCANotRevoked refuses an intermediate CA that a configured CRL of
// its issuer lists as revoked.
func checkCANotRevoked(cfg *model.Config, ca *x509.Certificate) error {
	crls, err := configuredCRLs(cfg)
	if err != nil {
		return err
	}
	roots, inters, err := configuredCAs(cfg)
	if err != nil {
		return err
	}
	for _, crl := range crls {
		if !bytes.Equal(crl.RawIssuer, ca.RawIssuer) {
			continue
		}
		for _, issuer := range append(roots, inters...) {
			if !bytes.Equal(issuer.RawSubject, crl.RawIssuer) || crl.CheckSignatureFrom(issuer) != nil || ca.CheckSignatureFrom(issuer) != nil {
				continue
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber != nil && e.SerialNumber.Cmp(ca.SerialNumber) == 0 {
					return fmt.Errorf("CA %q (serial %s) is revoked by the CRL of %q", pki.DNString(ca.RawSubject), ca.SerialNumber, pki.DNString(crl.RawIssuer))
				}
			}
		}
	}
	return nil
}

// checkCRL checks a CRL for import: it must be signed by a configured CA
// and current at now. old is the CRL stored under the same name, if any:
// the new one must then come from the same CA and be newer.
func checkCRL(cfg *model.Config, crl, old *x509.RevocationList, now time.Time) error {
	roots, inters, err := configuredCAs(cfg)
	if err != nil {
		return err
	}
	store := pki.NewCRLStore(append(roots, inters...))
	if _, err := store.Update(crl); err != nil {
		return err
	}
	issuer := pki.DNString(crl.RawIssuer)
	if now.Before(crl.ThisUpdate) {
		return fmt.Errorf("CRL from %q not yet valid: this update %s, now %s", issuer, crl.ThisUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
		return fmt.Errorf("CRL from %q is out of date: next update was due %s (publish a fresh one)", issuer, crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	if old != nil {
		if !bytes.Equal(old.RawIssuer, crl.RawIssuer) {
			return fmt.Errorf("this name holds the CRL of %q, not of %q: use another name", pki.DNString(old.RawIssuer), issuer)
		}
		if !crl.ThisUpdate.After(old.ThisUpdate) {
			return fmt.Errorf("CRL from %q is not newer than the stored one (this update %s)", issuer, old.ThisUpdate.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
