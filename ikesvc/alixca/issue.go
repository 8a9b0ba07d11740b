package main

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"alixsec.dev/ikesvc/pki"
)

// checkHostName accepts an FQDN made of letters, digits and '-' labels; the
// name is also the stem of the host's files, so it must not name a CA file
// or leave the directory.
func checkHostName(host string) error {
	if host == rootName || host == interName || host == "index" {
		return fmt.Errorf("%q is reserved for the CA's own files", host)
	}
	if len(host) == 0 || len(host) > 253 {
		return errors.New("not a host name (1..253 characters)")
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a host name (dot-separated labels of letters, digits and '-')")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("not a host name (dot-separated labels of letters, digits and '-')")
			}
		}
	}
	return nil
}

func (e *env) issue(args []string) error {
	fs := flag.NewFlagSet("issue", flag.ContinueOnError)
	csrFile := fs.String("csr", "", "issue for the key of this PEM CSR instead of generating a key")
	dnsList := fs.String("dns", "", "extra subjectAltName DNS names, comma-separated (HOST is always included)")
	ipList := fs.String("ip", "", "subjectAltName IP addresses, comma-separated")
	keyType := fs.String("key", "p256", "key type when generating: "+strings.Join(keyTypes, ", "))
	days := fs.Int("days", 825, "validity in days (capped at the intermediate's)")
	subject := fs.String("subject", "", "subject DN (default: the intermediate's with CN=HOST)")
	cdp := fs.String("cdp", "", "CRL distribution point URL to write into the certificate")
	force := fs.Bool("force", false, "issue even though HOST has a valid certificate (the old one stays valid until revoked)")
	host, err := oneArg(fs, args, "HOST")
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	fail := func(err error) error { return fmt.Errorf("issue %s: %w", host, err) }
	if err := checkHostName(host); err != nil {
		return fail(err)
	}
	if *days <= 0 {
		return fail(fmt.Errorf("-days %d: must be positive", *days))
	}
	var ips []net.IP
	for _, s := range splitList(*ipList) {
		ip := net.ParseIP(s)
		if ip == nil {
			return fail(fmt.Errorf("-ip %q: not an IP address", s))
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		ips = append(ips, ip)
	}
	dns := []string{host}
	for _, d := range splitList(*dnsList) {
		if err := checkHostName(d); err != nil && !strings.HasPrefix(d, "*.") {
			return fail(fmt.Errorf("-dns %q: %w", d, err))
		}
		if !strings.EqualFold(d, host) {
			dns = append(dns, d)
		}
	}

	unlock, err := e.lock()
	if err != nil {
		return fail(err)
	}
	defer unlock()
	inter, interKey, err := e.loadCA(interName)
	if err != nil {
		return fail(err)
	}
	entries, err := readIndex(e.dir)
	if err != nil {
		return fail(err)
	}
	for _, en := range entries {
		if en.Name == interName && en.Serial.Cmp(inter.SerialNumber) == 0 && en.Status == statusRevoked {
			return fail(errors.New("intermediate-ca is revoked (make a new one with `alixca ca intermediate -force`)"))
		}
		if en.Name == host && en.state(e.now) == statusValid && !*force {
			return fail(errors.New("certificate already exists (revoke it first or use -force)"))
		}
	}

	var t tx
	t.dir = e.dir
	var pub crypto.PublicKey
	keySource := keyGenerated
	if *csrFile != "" {
		csrPEM, csr, err := readCSR(*csrFile, host)
		if err != nil {
			return fail(err)
		}
		pub, keySource = csr.PublicKey, keyFromCSR
		t.write(host+".csr", csrPEM, 0o644)
		t.remove(host + ".key") // a key from an earlier issue no longer matches
	} else {
		key, err := generateKey(*keyType)
		if err != nil {
			return fail(err)
		}
		keyPEM, err := encodeKey(key)
		if err != nil {
			return fail(err)
		}
		pub = key.Public()
		t.write(host+".key", keyPEM, 0o600)
		t.remove(host + ".csr")
	}

	if *subject == "" {
		*subject = siblingSubject(inter, func(string) string { return host })
	}
	raw, _, err := subjectDER(*subject)
	if err != nil {
		return fail(fmt.Errorf("-subject: %w", err))
	}
	serial, err := newSerial()
	if err != nil {
		return fail(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            raw,
		NotBefore:             e.now.Add(-clockSkew),
		NotAfter:              e.now.AddDate(0, 0, *days),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	if *cdp != "" {
		tmpl.CRLDistributionPoints = []string{*cdp}
	}
	if tmpl.NotAfter.After(inter.NotAfter) {
		tmpl.NotAfter = inter.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, pub, interKey)
	if err != nil {
		return fail(fmt.Errorf("sign: %w", err))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fail(err)
	}
	entry := entryFor(cert, interName, host, keySource)
	entries = append(entries, entry)
	certPEM := pki.EncodeCertificatePEM(cert)
	t.write(host+".crt", certPEM, 0o644)
	t.write(filepath.Join(certsDir, entry.serialHex()+".crt"), certPEM, 0o644)
	t.write(indexFile, formatIndex(entries), 0o644)
	if err := t.commit(); err != nil {
		return fail(err)
	}
	files := host + ".crt, " + host + ".key (0600)"
	if keySource == keyFromCSR {
		files = host + ".crt (key stays with the requester), " + host + ".csr"
	}
	fmt.Fprintf(e.out, "issued %s: serial %s, %s, valid until %s\n  %s\n", pki.DNString(cert.RawSubject),
		entry.serialHex(), describeKey(pub), cert.NotAfter.UTC().Format(time.DateOnly), files)
	return nil
}

// readCSR reads and checks a PEM certificate request: its signature must
// verify (proof that the requester holds the key) and its CN, if any, must
// be the host it is issued for.
func readCSR(file, host string) ([]byte, *x509.CertificateRequest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("-csr: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, nil, fmt.Errorf("-csr %s: no PEM CERTIFICATE REQUEST block (truncated or garbled?)", file)
	}
	if strings.Contains(string(rest), "-----BEGIN") {
		return nil, nil, fmt.Errorf("-csr %s: more than one PEM block", file)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("-csr %s: garbled request: %w", file, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, fmt.Errorf("-csr %s: signature does not verify: %w", file, err)
	}
	if cn := csr.Subject.CommonName; cn != "" && !strings.EqualFold(cn, host) {
		return nil, nil, fmt.Errorf("-csr %s: request is for CN=%s, not %s", file, cn, host)
	}
	return pem.EncodeToMemory(block), csr, nil
}
