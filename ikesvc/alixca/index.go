package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// index.txt records every certificate the CA directory ever issued, one
// tab-separated line each, so issues and revocations can be audited with
// grep and never disappear (a revoked or superseded certificate keeps its
// line). Columns:
//
//	serial      hex, upper case, as openssl prints it
//	status      valid | revoked   (expiry is computed when listing)
//	not-before  RFC 3339 UTC
//	not-after   RFC 3339 UTC
//	revoked-at  RFC 3339 UTC, or -
//	reason      RFC 5280 CRLReason name, or -
//	issuer      root-ca | intermediate-ca
//	name        root-ca, intermediate-ca or the host name (file stem)
//	key         generated (alixca made the key, NAME.key) | csr (from NAME.csr)
//	subject     the DN, most significant RDN first
const indexFile = "index.txt"

const indexHeader = "# alixca index: serial\tstatus\tnot-before\tnot-after\trevoked-at\treason\tissuer\tname\tkey\tsubject\n"

const (
	statusValid   = "valid"
	statusRevoked = "revoked"
	keyGenerated  = "generated"
	keyFromCSR    = "csr"
)

type indexEntry struct {
	Serial    *big.Int
	Status    string
	NotBefore time.Time
	NotAfter  time.Time
	RevokedAt time.Time // zero unless revoked
	Reason    string    // "" unless revoked
	Issuer    string
	Name      string
	Key       string
	Subject   string
}

func (e indexEntry) serialHex() string { return strings.ToUpper(e.Serial.Text(16)) }

// state is the status shown to people: valid entries past not-after are
// expired.
func (e indexEntry) state(now time.Time) string {
	if e.Status == statusValid && now.After(e.NotAfter) {
		return "expired"
	}
	return e.Status
}

func readIndex(dir string) ([]indexEntry, error) {
	data, err := os.ReadFile(filepath.Join(dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", indexFile, err)
	}
	var out []indexEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseIndexLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", indexFile, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func parseIndexLine(line string) (indexEntry, error) {
	f := strings.Split(line, "\t")
	if len(f) != 10 {
		return indexEntry{}, fmt.Errorf("%d columns, want 10", len(f))
	}
	var e indexEntry
	var ok bool
	if e.Serial, ok = new(big.Int).SetString(f[0], 16); !ok {
		return indexEntry{}, fmt.Errorf("bad serial %q", f[0])
	}
	e.Status = f[1]
	if e.Status != statusValid && e.Status != statusRevoked {
		return indexEntry{}, fmt.Errorf("bad status %q", f[1])
	}
	var err error
	if e.NotBefore, err = time.Parse(time.RFC3339, f[2]); err != nil {
		return indexEntry{}, fmt.Errorf("bad not-before: %w", err)
	}
	if e.NotAfter, err = time.Parse(time.RFC3339, f[3]); err != nil {
		return indexEntry{}, fmt.Errorf("bad not-after: %w", err)
	}
	if f[4] != "-" {
		if e.RevokedAt, err = time.Parse(time.RFC3339, f[4]); err != nil {
			return indexEntry{}, fmt.Errorf("bad revoked-at: %w", err)
		}
	}
	if f[5] != "-" {
		e.Reason = f[5]
	}
	e.Issuer, e.Name, e.Key, e.Subject = f[6], f[7], f[8], f[9]
	return e, nil
}

func formatIndex(entries []indexEntry) []byte {
	var b bytes.Buffer
	b.WriteString(indexHeader)
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, e := range entries {
		revoked := "-"
		if !e.RevokedAt.IsZero() {
			revoked = e.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.serialHex(), e.Status,
			e.NotBefore.UTC().Format(time.RFC3339), e.NotAfter.UTC().Format(time.RFC3339),
			revoked, dash(e.Reason), e.Issuer, e.Name, e.Key, e.Subject)
	}
	return b.Bytes()
}
