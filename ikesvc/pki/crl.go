package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Errors of CRL handling; each wrapped with the CRL's issuer.
var (
	ErrCRLUnknownIssuer = errors.New("CRL issuer is not a configured CA")
	ErrCRLSignature     = errors.New("CRL signature does not verify with its issuer's key (signed by another CA?)")
)

// CRLStore holds the newest valid CRL of each configured CA. It may be updated
// at run time (imported by the admin or fetched from a distribution point)
// while handshakes read it, so it locks internally.
type CRLStore struct {
	cas []*x509.Certificate // issuers a CRL may come from; fixed at creation

	mu   sync.RWMutex
	crls map[caKey]*storedCRL
	gen  uint64 // counts stored CRLs, so caches know when to forget
}

// caKey identifies a CA by name and key together, so a re-keyed CA with the
// same name has its own CRL slot.
type caKey [sha256.Size]byte

func keyOfCA(ca *x509.Certificate) caKey {
	h := sha256.New()
	h.Write(ca.RawSubject)
	h.Write(ca.RawSubjectPublicKeyInfo)
	var k caKey
	h.Sum(k[:0])
	return k
}

type storedCRL struct {
	crl     *x509.RevocationList
	issuer  *x509.Certificate
	revoked map[string]x509.RevocationListEntry // by serial number in decimal
}

// NewCRLStore makes an empty store that accepts CRLs signed by any of cas.
func NewCRLStore(cas []*x509.Certificate) *CRLStore {
	return &CRLStore{cas: append([]*x509.Certificate(nil), cas...), crls: make(map[caKey]*storedCRL)}
}

// Update checks crl's signature against the configured CA that issued it and
// stores it unless the store already holds a CRL from that CA that is as new
// or newer (by CRL number when both carry one, else by thisUpdate). It
// reports whether the CRL replaced or added one; a CRL that is not newer is
// not an error, so a fetcher may offer the same CRL again.
func (s *CRLStore) Update(crl *x509.RevocationList) (bool, error) {
	issuer, err := s.issuerOf(crl)
	if err != nil {
		return false, err
	}
	return s.store(crl, issuer), nil
}

func (s *CRLStore) store(crl *x509.RevocationList, issuer *x509.Certificate) bool {
	k := keyOfCA(issuer)
	stored := &storedCRL{crl: crl, issuer: issuer, revoked: make(map[string]x509.RevocationListEntry, len(crl.RevokedCertificateEntries))}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil {
			stored.revoked[e.SerialNumber.String()] = e
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.crls[k]; old != nil && !newerCRL(crl, old.crl) {
		return false
	}
	s.crls[k] = stored
	s.gen++
	return true
}

// generation changes (grows) whenever a CRL is stored.
func (s *CRLStore) generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// UpdateFrom is Update for a CRL of a CA that is not configured but was
// part of a chain Verify returned (an intermediate the peer sent, whose CRL
// was fetched from a distribution point): crl must name issuer and verify
// with its key. The caller vouches for issuer.
func (s *CRLStore) UpdateFrom(crl *x509.RevocationList, issuer *x509.Certificate) (bool, error) {
	if !bytes.Equal(issuer.RawSubject, crl.RawIssuer) {
		return false, fmt.Errorf("CRL from %q: %w: expected %q", DNString(crl.RawIssuer), ErrCRLUnknownIssuer, subjectOf(issuer))
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return false, fmt.Errorf("CRL from %q: %w: %v", DNString(crl.RawIssuer), ErrCRLSignature, err)
	}
	return s.store(crl, issuer), nil
}

// issuerOf finds the configured CA whose name is crl's issuer and whose key
// verifies its signature.
func (s *CRLStore) issuerOf(crl *x509.RevocationList) (*x509.Certificate, error) {
	named := false
	var sigErr error
	for _, ca := range s.cas {
		if !bytes.Equal(ca.RawSubject, crl.RawIssuer) {
			continue
		}
		named = true
		if err := crl.CheckSignatureFrom(ca); err != nil {
			sigErr = err
			continue
		}
		return ca, nil
	}
	if !named {
		return nil, fmt.Errorf("CRL from %q: %w", DNString(crl.RawIssuer), ErrCRLUnknownIssuer)
	}
	return nil, fmt.Errorf("CRL from %q: %w: %v", DNString(crl.RawIssuer), ErrCRLSignature, sigErr)
}

func newerCRL(c, old *x509.RevocationList) bool {
	if c.Number != nil && old.Number != nil {
		return c.Number.Cmp(old.Number) > 0
	}
	return c.ThisUpdate.After(old.ThisUpdate)
}

// ForIssuer returns the stored CRL of ca, or nil.
func (s *CRLStore) ForIssuer(ca *x509.Certificate) *x509.RevocationList {
	if st := s.lookup(ca); st != nil {
		return st.crl
	}
	return nil
}

func (s *CRLStore) lookup(ca *x509.Certificate) *storedCRL {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.crls[keyOfCA(ca)]
}

// All returns the stored CRLs, for `show pki`.
func (s *CRLStore) All() []*x509.RevocationList {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*x509.RevocationList, 0, len(s.crls))
	for _, st := range s.crls {
		out = append(out, st.crl)
	}
	return out
}

// revokedEntry says why and when a certificate was revoked.
type revokedEntry struct {
	Cert   *x509.Certificate
	Issuer *x509.Certificate
	Time   time.Time
	Reason int // RFC 5280 CRLReason; see ReasonName
}

// revocation looks cert up in the CRL of issuer; nil when not revoked or
// when no CRL is stored. A CRL past its next-update still revokes: an
// expired CRL proves too little to admit, but never un-revokes.
func (s *CRLStore) revocation(cert, issuer *x509.Certificate) *revokedEntry {
	st := s.lookup(issuer)
	if st == nil || cert.SerialNumber == nil {
		return nil
	}
	e, ok := st.revoked[cert.SerialNumber.String()]
	if !ok {
		return nil
	}
	return &revokedEntry{Cert: cert, Issuer: issuer, Time: e.RevocationTime, Reason: e.ReasonCode}
}

// currentCRL reports whether a CRL of issuer is stored and now lies between
// its thisUpdate and nextUpdate (a CRL without nextUpdate never expires).
func (s *CRLStore) currentCRL(issuer *x509.Certificate, now time.Time) (bool, string) {
	st := s.lookup(issuer)
	switch {
	case st == nil:
		return false, "no CRL"
	case now.Before(st.crl.ThisUpdate):
		return false, fmt.Sprintf("CRL not valid before %s", st.crl.ThisUpdate.UTC().Format(time.RFC3339))
	case !st.crl.NextUpdate.IsZero() && now.After(st.crl.NextUpdate):
		return false, fmt.Sprintf("CRL expired at %s (next-update)", st.crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	return true, ""
}

// reasonNames are the RFC 5280 CRLReason names, indexed by code.
var reasonNames = []string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 7: "",
	8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
}

// ReasonName returns the RFC 5280 name of a CRLReason code.
func ReasonName(code int) string {
	if code >= 0 && code < len(reasonNames) && reasonNames[code] != "" {
		return reasonNames[code]
	}
	return fmt.Sprintf("reason(%d)", code)
}

// ReasonCode reads a CRLReason name (case-insensitive) as ReasonName prints it.
func ReasonCode(name string) (int, error) {
	for code, n := range reasonNames {
		if n != "" && strings.EqualFold(n, name) {
			return code, nil
		}
	}
	return 0, fmt.Errorf("unknown revocation reason %q", name)
}
