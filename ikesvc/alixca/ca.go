package main

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"alixsec.dev/ikesvc/pki"
)

// File names of the CA material in the directory.
const (
	rootName  = "root-ca"
	interName = "intermediate-ca"
	certsDir  = "certs" // certs/SERIAL.crt: every certificate ever issued
)

// clockSkew backdates notBefore and thisUpdate so boards whose clocks run a
// little behind accept fresh material.
const clockSkew = 5 * time.Minute

// lock takes an exclusive lock on the directory for the life of the process
// step, so two alixca runs never interleave index updates.
func (e *env) lock() (func(), error) {
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", e.dir, err)
	}
	f, err := os.OpenFile(filepath.Join(e.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", e.dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another alixca (%w)", e.dir, err)
	}
	return func() { f.Close() }, nil
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

func (e *env) exists(name string) bool {
	_, err := os.Lstat(e.path(name))
	return err == nil
}

// loadCert reads NAME.crt.
func (e *env) loadCert(name string) (*x509.Certificate, error) {
	data, err := os.ReadFile(e.path(name + ".crt"))
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s.crt: %w", name, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s.crt: %d certificates, want 1", name, len(certs))
	}
	return certs[0], nil
}

// loadCA reads a CA's certificate and key and checks they belong together.
func (e *env) loadCA(name string) (*x509.Certificate, crypto.Signer, error) {
	cert, err := e.loadCert(name)
	if errors.Is(err, os.ErrNotExist) {
		hint := "alixca ca init"
		if name == interName {
			hint = "alixca ca intermediate"
		}
		return nil, nil, fmt.Errorf("no %s in %s (run `%s` first)", name, e.dir, hint)
	}
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(e.path(name + ".key"))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s.key: %w", name, err)
	}
	key, err := pki.ParsePrivateKey(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s.key: %w", name, err)
	}
	if !samePublicKey(key.Public(), cert.PublicKey) {
		return nil, nil, fmt.Errorf("%s.key does not match %s.crt", name, name)
	}
	return cert, key, nil
}

func newSerial() (*big.Int, error) {
	// 127 random bits: positive, unique in practice, and under RFC 5280's
	// 20-octet limit.
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// subjectDER turns a DN string into the DER subject of a certificate.
func subjectDER(dn string) ([]byte, pkix.RDNSequence, error) {
	rdns, err := pki.ParseDN(dn)
	if err != nil {
		return nil, nil, err
	}
	der, err := pki.MarshalDN(rdns)
	return der, rdns, err
}

type caFlags struct {
	subject string
	key     string
	days    int
	force   bool
}

func (f *caFlags) register(fs *flag.FlagSet, days int) {
	fs.StringVar(&f.subject, "subject", "", "subject DN, e.g. \"C=JP, O=Example, CN=Example Root CA\"")
	fs.StringVar(&f.key, "key", "p256", "key type: "+strings.Join(keyTypes, ", "))
	fs.IntVar(&f.days, "days", days, "validity in days")
	fs.BoolVar(&f.force, "force", false, "replace an existing CA (certificates it issued stop verifying)")
}

func (e *env) caInit(args []string) error {
	var f caFlags
	fs := flag.NewFlagSet("ca init", flag.ContinueOnError)
	f.register(fs, 3650)
	if pos, err := parseFlags(fs, args); err != nil || len(pos) != 0 {
		return firstErr(err, fmt.Errorf("unexpected argument %q", strings.Join(pos, " ")))
	}
	if f.subject == "" {
		f.subject = "O=alixsec, CN=alixsec Root CA"
	}
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if e.exists(rootName+".crt") && !f.force {
		return fmt.Errorf("%s already exists in %s (use -force to replace it)", rootName+".crt", e.dir)
	}
	return e.makeCA(rootName, nil, nil, f, -1)
}

func (e *env) caIntermediate(args []string) error {
	var f caFlags
	fs := flag.NewFlagSet("ca intermediate", flag.ContinueOnError)
	f.register(fs, 1825)
	if pos, err := parseFlags(fs, args); err != nil || len(pos) != 0 {
		return firstErr(err, fmt.Errorf("unexpected argument %q", strings.Join(pos, " ")))
	}
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	root, rootKey, err := e.loadCA(rootName)
	if err != nil {
		return err
	}
	if e.exists(interName+".crt") && !f.force {
		return fmt.Errorf("%s already exists in %s (use -force to replace it)", interName+".crt", e.dir)
	}
	if f.subject == "" {
		f.subject = siblingSubject(root, func(cn string) string {
			if strings.Contains(cn, "Root") {
				return strings.Replace(cn, "Root", "Intermediate", 1)
			}
			return cn + " Intermediate"
		})
	}
	return e.makeCA(interName, root, rootKey, f, 0)
}

// siblingSubject is parent's subject with its CN replaced by newCN(old CN),
// so the whole PKI shares C, O, OU and a DN pattern like
// "C=JP, O=Example, CN=*" admits every host.
func siblingSubject(parent *x509.Certificate, newCN func(string) string) string {
	dn, err := pki.UnmarshalDN(parent.RawSubject)
	if err != nil {
		return "CN=" + newCN("")
	}
	var kept pkix.RDNSequence
	cn := ""
	for _, rdn := range dn {
		if len(rdn) == 1 && rdn[0].Type.Equal([]int{2, 5, 4, 3}) {
			if s, ok := rdn[0].Value.(string); ok {
				cn = s
			}
			continue
		}
		kept = append(kept, rdn)
	}
	kept = append(kept, []pkix.AttributeTypeAndValue{{Type: []int{2, 5, 4, 3}, Value: newCN(cn)}})
	return pki.FormatDN(kept)
}

// makeCA creates NAME.key and NAME.crt, self-signed when parent is nil.
func (e *env) makeCA(name string, parent *x509.Certificate, parentKey crypto.Signer, f caFlags, pathLen int) error {
	if f.days <= 0 {
		return fmt.Errorf("-days %d: must be positive", f.days)
	}
	raw, _, err := subjectDER(f.subject)
	if err != nil {
		return fmt.Errorf("-subject: %w", err)
	}
	key, err := generateKey(f.key)
	if err != nil {
		return err
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            raw,
		NotBefore:             e.now.Add(-clockSkew),
		NotAfter:              e.now.AddDate(0, 0, f.days),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            pathLen,
		MaxPathLenZero:        pathLen == 0,
	}
	issuerName := rootName
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parentKey, parent
		if tmpl.NotAfter.After(parent.NotAfter) {
			tmpl.NotAfter = parent.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signer)
	if err != nil {
		return fmt.Errorf("sign %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	entries, err := readIndex(e.dir)
	if err != nil {
		return err
	}
	entries = append(entries, entryFor(cert, issuerName, name, keyGenerated))
	var t tx
	t.dir = e.dir
	certPEM := pki.EncodeCertificatePEM(cert)
	t.write(name+".key", keyPEM, 0o600)
	t.write(name+".crt", certPEM, 0o644)
	t.write(filepath.Join(certsDir, entries[len(entries)-1].serialHex()+".crt"), certPEM, 0o644)
	t.write(indexFile, formatIndex(entries), 0o644)
	if err := t.commit(); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "created %s: %s, serial %s, %s, valid until %s\n  %s.crt, %s.key (keep it offline)\n",
		name, pki.DNString(cert.RawSubject), entries[len(entries)-1].serialHex(), describeKey(cert.PublicKey),
		cert.NotAfter.UTC().Format(time.DateOnly), name, name)
	return nil
}

func entryFor(cert *x509.Certificate, issuer, name, key string) indexEntry {
	return indexEntry{
		Serial: cert.SerialNumber, Status: statusValid, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
		Issuer: issuer, Name: name, Key: key, Subject: pki.DNString(cert.RawSubject),
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
