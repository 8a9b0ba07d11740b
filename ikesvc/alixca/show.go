package main

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"alixsec.dev/ikesvc/pki"
)

func (e *env) list(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("unexpected argument %q", strings.Join(args, " "))
	}
	entries, err := readIndex(e.dir)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("no certificates in %s (run `alixca ca init` first)", e.dir)
	}
	w := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SERIAL\tSTATUS\tEXPIRES\tISSUER\tNAME\tSUBJECT")
	for _, en := range entries {
		status := en.state(e.now)
		if en.Status == statusRevoked {
			status += " " + en.RevokedAt.UTC().Format(time.DateOnly) + " " + en.Reason
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", en.serialHex(), status,
			en.NotAfter.UTC().Format(time.DateOnly), en.Issuer, en.Name, en.Subject)
	}
	return w.Flush()
}

// show prints a certificate or CRL of the directory in plain words. NAME is
// a host, root-ca, intermediate-ca, a serial, or a file name (.crt, .crl).
// Private keys are never printed.
func (e *env) show(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("show: want one NAME, got %d arguments", len(args))
	}
	name := args[0]
	fail := func(err error) error { return fmt.Errorf("show %s: %w", name, err) }
	if strings.HasSuffix(name, ".key") {
		return fail(errors.New("private keys are never printed"))
	}
	entries, err := readIndex(e.dir)
	if err != nil {
		return fail(err)
	}
	if strings.HasSuffix(name, ".crl") {
		return prefix("show "+name, e.showCRL(strings.TrimSuffix(filepath.Base(name), ".crl")))
	}
	file := strings.TrimSuffix(name, ".crt") + ".crt"
	if _, err := os.Stat(e.path(file)); err != nil {
		file = ""
		if serial, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(name), "0x"), 16); ok {
			for _, en := range entries {
				if en.Serial.Cmp(serial) == 0 {
					file = filepath.Join(certsDir, en.serialHex()+".crt")
				}
			}
		}
	}
	if file == "" {
		return fail(fmt.Errorf("no such certificate in %s", e.dir))
	}
	data, err := os.ReadFile(e.path(file))
	if err != nil {
		return fail(err)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return fail(err)
	}
	c := certs[0]
	printCert(e, file, c)
	for _, en := range entries {
		if en.Serial.Cmp(c.SerialNumber) == 0 {
			status := en.state(e.now)
			if en.Status == statusRevoked {
				status = fmt.Sprintf("revoked at %s (%s)", en.RevokedAt.UTC().Format(time.RFC3339), en.Reason)
			}
			fmt.Fprintf(e.out, "status:     %s (index.txt)\n", status)
		}
	}
	return nil
}

func printCert(e *env, file string, c *x509.Certificate) {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(e.out, "%-11s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	p("file", "%s", file)
	p("subject", "%s", pki.DNString(c.RawSubject))
	p("issuer", "%s", pki.DNString(c.RawIssuer))
	p("serial", "%s", strings.ToUpper(c.SerialNumber.Text(16)))
	p("valid", "%s to %s", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	p("key", "%s", describeKey(c.PublicKey))
	p("signature", "%s", c.SignatureAlgorithm)
	if c.IsCA {
		pathLen := "unlimited"
		if c.MaxPathLen > 0 || c.MaxPathLenZero {
			pathLen = fmt.Sprint(c.MaxPathLen)
		}
		p("CA", "yes, path length %s", pathLen)
	}
	p("key usage", "%s", keyUsageNames(c))
	var san []string
	for _, d := range c.DNSNames {
		san = append(san, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		san = append(san, "IP:"+ip.String())
	}
	for _, m := range c.EmailAddresses {
		san = append(san, "email:"+m)
	}
	if len(san) > 0 {
		p("alt names", "%s", strings.Join(san, ", "))
	}
	for _, u := range c.CRLDistributionPoints {
		p("CRL URL", "%s", u)
	}
	sum := sha256.Sum256(c.Raw)
	p("sha256", "%X", sum)
	kh := pki.KeyHashOf(c)
	p("key sha1", "%X (as in CERTREQ)", kh)
}

func keyUsageNames(c *x509.Certificate) string {
	names := []struct {
		u    x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digitalSignature"}, {x509.KeyUsageContentCommitment, "nonRepudiation"},
		{x509.KeyUsageKeyEncipherment, "keyEncipherment"}, {x509.KeyUsageDataEncipherment, "dataEncipherment"},
		{x509.KeyUsageKeyAgreement, "keyAgreement"}, {x509.KeyUsageCertSign, "keyCertSign"},
		{x509.KeyUsageCRLSign, "cRLSign"},
	}
	var out []string
	for _, n := range names {
		if c.KeyUsage&n.u != 0 {
			out = append(out, n.name)
		}
	}
	for _, eku := range c.ExtKeyUsage {
		switch eku {
		case x509.ExtKeyUsageServerAuth:
			out = append(out, "serverAuth")
		case x509.ExtKeyUsageClientAuth:
			out = append(out, "clientAuth")
		default:
			out = append(out, fmt.Sprintf("eku(%d)", eku))
		}
	}
	if len(out) == 0 {
		return "(none)"
	}
	return strings.Join(out, ", ")
}

func (e *env) showCRL(name string) error {
	if name != rootName && name != interName {
		return fmt.Errorf("want %s.crl or %s.crl", rootName, interName)
	}
	ca, err := e.loadCert(name)
	if err != nil {
		return err
	}
	crl, err := e.loadCRL(name, ca)
	if err != nil {
		return err
	}
	p := func(label, format string, args ...any) {
		fmt.Fprintf(e.out, "%-11s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	p("file", "%s.crl", name)
	p("issuer", "%s (signature verified)", pki.DNString(crl.RawIssuer))
	p("number", "%s", crl.Number)
	p("this update", "%s", crl.ThisUpdate.UTC().Format(time.RFC3339))
	next := crl.NextUpdate.UTC().Format(time.RFC3339)
	if e.now.After(crl.NextUpdate) {
		next += " (EXPIRED: run `alixca crl`)"
	}
	p("next update", "%s", next)
	p("revoked", "%d", len(crl.RevokedCertificateEntries))
	for _, r := range crl.RevokedCertificateEntries {
		fmt.Fprintf(e.out, "  %s  %s  %s\n", strings.ToUpper(r.SerialNumber.Text(16)),
			r.RevocationTime.UTC().Format(time.RFC3339), pki.ReasonName(r.ReasonCode))
	}
	return nil
}
