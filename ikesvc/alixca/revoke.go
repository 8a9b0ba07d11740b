package main

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"alixsec.dev/ikesvc/pki"
)

func (e *env) revoke(args []string) error {
	fs := flag.NewFlagSet("revoke", flag.ContinueOnError)
	reason := fs.String("reason", "unspecified", "RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise")
	target, err := oneArg(fs, args, "HOST or SERIAL")
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	fail := func(err error) error { return fmt.Errorf("revoke %s: %w", target, err) }
	code, err := pki.ReasonCode(*reason)
	if err != nil || code == 8 { // removeFromCRL belongs to delta CRLs only
		return fail(fmt.Errorf("-reason %q: not a revocation reason", *reason))
	}
	if target == rootName {
		return fail(errors.New("a root CA cannot be revoked; make a new one with `alixca ca init -force`"))
	}
	unlock, err := e.lock()
	if err != nil {
		return fail(err)
	}
	defer unlock()
	entries, err := readIndex(e.dir)
	if err != nil {
		return fail(err)
	}
	serial, isSerial := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(target), "0x"), 16)
	var hits []int
	alreadyRevoked := false
	for i, en := range entries {
		match := en.Name == target || (isSerial && en.Serial.Cmp(serial) == 0)
		if !match {
			continue
		}
		if en.Status == statusRevoked {
			alreadyRevoked = true
			continue
		}
		hits = append(hits, i)
	}
	if len(hits) == 0 {
		if alreadyRevoked {
			return fail(errors.New("already revoked"))
		}
		return fail(fmt.Errorf("no certificate with that name or serial in %s", indexFile))
	}
	var revoked []string
	for _, i := range hits {
		entries[i].Status = statusRevoked
		entries[i].RevokedAt = e.now.UTC().Truncate(time.Second)
		entries[i].Reason = pki.ReasonName(code)
		revoked = append(revoked, entries[i].serialHex())
	}
	t := tx{dir: e.dir}
	t.write(indexFile, formatIndex(entries), 0o644)
	if err := t.commit(); err != nil {
		return fail(err)
	}
	fmt.Fprintf(e.out, "revoked %s serial %s (%s); run `alixca crl` to publish\n", target, strings.Join(revoked, ", "), pki.ReasonName(code))
	return nil
}

// publishCRLs writes intermediate-ca.crl (host certificates the
// intermediate revoked) and root-ca.crl (covering the intermediate), each
// numbered one above the CRL it replaces.
func (e *env) publishCRLs(args []string) error {
	fs := flag.NewFlagSet("crl", flag.ContinueOnError)
	days := fs.Int("days", 30, "days until next-update: publish a new CRL before then")
	if pos, err := parseFlags(fs, args); err != nil || len(pos) != 0 {
		return firstErr(err, fmt.Errorf("unexpected argument %q", strings.Join(pos, " ")))
	}
	if *days <= 0 {
		return fmt.Errorf("-days %d: must be positive", *days)
	}
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	entries, err := readIndex(e.dir)
	if err != nil {
		return err
	}
	t := tx{dir: e.dir}
	var report []string
	for _, name := range []string{rootName, interName} {
		if name == interName && !e.exists(interName+".crt") {
			continue
		}
		ca, key, err := e.loadCA(name)
		if err != nil {
			return err
		}
		crl, err := e.makeCRL(name, ca, key, entries, *days)
		if err != nil {
			return err
		}
		t.write(name+".crl", pki.EncodeCRLPEM(crl), 0o644)
		report = append(report, fmt.Sprintf("%s.crl: number %s, %d revoked, next update %s", name, crl.Number,
			len(crl.RevokedCertificateEntries), crl.NextUpdate.UTC().Format(time.DateOnly)))
	}
	if err := t.commit(); err != nil {
		return err
	}
	fmt.Fprintln(e.out, strings.Join(report, "\n"))
	return nil
}

func (e *env) makeCRL(name string, ca *x509.Certificate, key crypto.Signer, entries []indexEntry, days int) (*x509.RevocationList, error) {
	number := big.NewInt(1)
	if prev, err := e.loadCRL(name, ca); err == nil {
		if prev.Number != nil {
			number.Add(prev.Number, big.NewInt(1))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (move it away to start over)", err)
	}
	tmpl := &x509.RevocationList{
		Number:     number,
		ThisUpdate: e.now.Add(-clockSkew).UTC(),
		NextUpdate: e.now.AddDate(0, 0, days).UTC(),
	}
	for _, en := range entries {
		if en.Issuer != name || en.Status != statusRevoked || en.Name == name {
			continue
		}
		code, err := pki.ReasonCode(en.Reason)
		if err != nil {
			code = 0
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: en.Serial, RevocationTime: en.RevokedAt, ReasonCode: code,
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
	if err != nil {
		return nil, fmt.Errorf("sign %s.crl: %w", name, err)
	}
	return x509.ParseRevocationList(der)
}

// loadCRL reads NAME.crl and checks it is signed by ca.
func (e *env) loadCRL(name string, ca *x509.Certificate) (*x509.RevocationList, error) {
	data, err := os.ReadFile(e.path(name + ".crl"))
	if err != nil {
		return nil, err
	}
	crl, err := pki.ParseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("%s.crl: %w", name, err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("%s.crl is not signed by %s (a CRL from another CA?): %w", name, name, err)
	}
	return crl, nil
}
