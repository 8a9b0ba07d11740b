package pki

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// CRLPolicy says what a missing CRL means. A revoked certificate is
// rejected under every policy.
type CRLPolicy int

const (
	// CRLRelaxed checks a CRL when one is stored and admits without one.
	CRLRelaxed CRLPolicy = iota
	// CRLStrict requires a current CRL (thisUpdate <= now <= nextUpdate)
	// from every CA in the chain: no CRL, no entry.
	CRLStrict
)

func (p CRLPolicy) String() string {
	switch p {
	case CRLRelaxed:
		return "relaxed"
	case CRLStrict:
		return "strict"
	}
	return fmt.Sprintf("CRLPolicy(%d)", int(p))
}

// ParseCRLPolicy reads "strict" or "relaxed".
func ParseCRLPolicy(s string) (CRLPolicy, error) {
	switch s {
	case "strict":
		return CRLStrict, nil
	case "relaxed":
		return CRLRelaxed, nil
	}
	return 0, fmt.Errorf("CRL policy %q: want strict or relaxed", s)
}

// Reasons a chain is refused. Verify wraps exactly one of them (with the
// certificate and the details) so callers can log the text and branch with
// errors.Is.
var (
	ErrUnknownCA   = errors.New("certificate does not chain to a configured CA")
	ErrExpired     = errors.New("certificate expired")
	ErrNotYetValid = errors.New("certificate not yet valid")
	ErrKeyUsage    = errors.New("key usage does not allow this use")
	ErrNotCA       = errors.New("issuer is not a CA")
	ErrPathLength  = errors.New("path length constraint exceeded")
	ErrRevoked     = errors.New("certificate revoked")
	ErrNoCRL       = errors.New("strict CRL policy: no current CRL")
	ErrBadChain    = errors.New("certificate chain invalid")
)

// Chain is a verified certification path: the leaf first, the configured
// root last.
type Chain []*x509.Certificate

// Leaf returns the end-entity certificate.
func (c Chain) Leaf() *x509.Certificate { return c[0] }

// Root returns the trust anchor.
func (c Chain) Root() *x509.Certificate { return c[len(c)-1] }

// TrustConfig is what a trust store is built from: parsed certificates and
// CRLs (see ParseCertificates and ParseCRL), usually from the config store.
type TrustConfig struct {
	Roots         []*x509.Certificate // trust anchors
	Intermediates []*x509.Certificate // configured CAs below the roots
	CRLs          []*x509.RevocationList
	CRLPolicy     CRLPolicy
}

// TrustStore decides whether a peer certificate is trusted. Its CA set is
// fixed when built (a config change builds a new store); its CRLs may be
// updated while it is in use, through CRLs().
type TrustStore struct {
	roots         []*x509.Certificate
	intermediates []*x509.Certificate
	rootPool      *x509.CertPool
	policy        CRLPolicy
	crls          *CRLStore
	paths         *chainCache // paths already built, see chainCache
}

// NewTrustStore checks that every configured CA is a CA and that every CRL
// verifies with the key of the CA that issued it.
func NewTrustStore(cfg TrustConfig) (*TrustStore, error) {
	if len(cfg.Roots) == 0 {
		return nil, errors.New("trust store: no root CA configured")
	}
	ts := &TrustStore{
		roots:         append([]*x509.Certificate(nil), cfg.Roots...),
		intermediates: append([]*x509.Certificate(nil), cfg.Intermediates...),
		rootPool:      x509.NewCertPool(),
		policy:        cfg.CRLPolicy,
		paths:         newChainCache(chainCacheSize),
	}
	for _, ca := range append(append([]*x509.Certificate(nil), ts.roots...), ts.intermediates...) {
		if !ca.BasicConstraintsValid || !ca.IsCA {
			return nil, fmt.Errorf("trust store: %q: %w (no basicConstraints cA=TRUE)", subjectOf(ca), ErrNotCA)
		}
	}
	for _, root := range ts.roots {
		ts.rootPool.AddCert(root)
	}
	ts.crls = NewCRLStore(append(append([]*x509.Certificate(nil), ts.roots...), ts.intermediates...))
	for _, crl := range cfg.CRLs {
		if _, err := ts.crls.Update(crl); err != nil {
			return nil, fmt.Errorf("trust store: %w", err)
		}
	}
	return ts, nil
}

// CRLs returns the store's CRL store, to add CRLs at run time.
func (ts *TrustStore) CRLs() *CRLStore { return ts.crls }

// Policy returns the CRL policy the store was built with.
func (ts *TrustStore) Policy() CRLPolicy { return ts.policy }

// Roots returns the configured trust anchors.
func (ts *TrustStore) Roots() []*x509.Certificate { return ts.roots }

// Intermediates returns the configured intermediate CAs, which a host sends
// in CERT payloads after its own certificate.
func (ts *TrustStore) Intermediates() []*x509.Certificate { return ts.intermediates }

// Verify builds a path from leaf to a configured root through the configured
// intermediates and those the peer sent, and checks it at time now:
// signatures, validity periods, basic constraints and path lengths, key usage
// (digitalSignature on the leaf, keyCertSign on CAs, when the certificate
// carries the extension at all: RFC 5280 reads an absent extension as no
// restriction, and CA.pl-made certificates often lack it), and revocation
// under the store's CRL policy. Extended key usages are not restricted. The
// error wraps one of the Err* reasons above.
//
// Paths built for a certificate set (leaf and peer intermediates, by DER)
// are cached with their signatures checked; a later Verify of the same set
// checks only validity periods, key usage and revocation again (see
// chainCache).
func (ts *TrustStore) Verify(leaf *x509.Certificate, peerIntermediates []*x509.Certificate, now time.Time) (Chain, error) {
	if leaf == nil {
		return nil, fmt.Errorf("verify: %w: no certificate", ErrBadChain)
	}
	if err := checkValidity(leaf, now); err != nil {
		return nil, err
	}
	key := keyOfPresented(leaf, peerIntermediates)
	gen := ts.crls.generation()
	if cached := ts.paths.get(key, gen); cached != nil {
		if chain, err := ts.acceptChain(cached, now, true); err == nil {
			// A copy led by the caller's own leaf (same DER as the cached
			// one), so that no caller sees another handshake's objects.
			out := append(Chain{leaf}, chain[1:]...)
			return out, nil
		}
		// No cached path passes now: build afresh, which both gives the
		// precise reason and finds paths that were not yet valid when
		// the entry was made.
	}
	pool := x509.NewCertPool()
	for _, c := range ts.intermediates {
		pool.AddCert(c)
	}
	for _, c := range peerIntermediates {
		pool.AddCert(c)
	}
	candidates := append(append(append([]*x509.Certificate(nil), ts.roots...), ts.intermediates...), peerIntermediates...)
	built, err := leaf.Verify(x509.VerifyOptions{
		Roots:         ts.rootPool,
		Intermediates: pool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, classify(leaf, candidates, now, err)
	}
	chains := make([]Chain, len(built))
	for i, c := range built {
		chains[i] = Chain(c)
	}
	ts.paths.put(key, chains, gen)
	return ts.acceptChain(chains, now, false)
}

// acceptChain returns the first of the signature-verified paths whose key
// usages fit and that no CRL revokes (under the store's policy), or the
// reason none does, a revocation in preference. checkTimes also checks
// every certificate's validity period at now, which crypto/x509 did
// already for freshly built paths but which a cached path needs again.
func (ts *TrustStore) acceptChain(chains []Chain, now time.Time, checkTimes bool) (Chain, error) {
	var firstErr error
	for _, chain := range chains {
		var err error
		if checkTimes {
			err = checkValidities(chain, now)
		}
		if err == nil {
			err = checkKeyUsage(chain)
		}
		if err == nil {
			err = ts.checkRevocation(chain, now)
		}
		if err == nil {
			return chain, nil
		}
		if firstErr == nil || errors.Is(err, ErrRevoked) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("verify: %w: no certification path", ErrBadChain)
	}
	return nil, firstErr
}

func checkValidities(chain Chain, now time.Time) error {
	for _, c := range chain {
		if err := checkValidity(c, now); err != nil {
			return err
		}
	}
	return nil
}

func subjectOf(c *x509.Certificate) string { return DNString(c.RawSubject) }

func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("verify %q: %w: valid from %s, now %s", subjectOf(c), ErrNotYetValid,
			c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("verify %q: %w: valid until %s, now %s", subjectOf(c), ErrExpired,
			c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// classify maps crypto/x509's verification errors to our reasons.
func classify(leaf *x509.Certificate, candidates []*x509.Certificate, now time.Time, err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		if reason := unfitIssuer(leaf, candidates); reason != nil {
			return reason
		}
		return fmt.Errorf("verify %q (issuer %q): %w (%v)", subjectOf(leaf), DNString(leaf.RawIssuer), ErrUnknownCA, err)
	case errors.As(err, &invalid):
		c := invalid.Cert
		if c == nil {
			c = leaf
		}
		switch invalid.Reason {
		case x509.Expired:
			if verr := checkValidity(c, now); verr != nil {
				return verr
			}
		case x509.NotAuthorizedToSign:
			return fmt.Errorf("verify %q: %w: %q", subjectOf(leaf), ErrNotCA, subjectOf(c))
		case x509.TooManyIntermediates:
			return fmt.Errorf("verify %q: %w at %q", subjectOf(leaf), ErrPathLength, subjectOf(c))
		}
		return fmt.Errorf("verify %q: %w: %v", subjectOf(leaf), ErrBadChain, err)
	}
	return fmt.Errorf("verify %q: %w: %v", subjectOf(leaf), ErrBadChain, err)
}

// unfitIssuer looks for the certificate that signed leaf among the
// candidates and says why crypto/x509 would not use it: it is not a CA, or
// its keyUsage lacks keyCertSign. crypto/x509 reports both as an unknown
// authority, which would send an admin looking for the wrong problem.
func unfitIssuer(leaf *x509.Certificate, candidates []*x509.Certificate) error {
	for _, c := range candidates {
		if !bytes.Equal(c.RawSubject, leaf.RawIssuer) ||
			c.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
			continue
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return fmt.Errorf("verify %q: %w: %q", subjectOf(leaf), ErrNotCA, subjectOf(c))
		}
		if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fmt.Errorf("verify %q: %w: CA %q lacks keyCertSign", subjectOf(leaf), ErrKeyUsage, subjectOf(c))
		}
	}
	return nil
}

func checkKeyUsage(chain Chain) error {
	leaf := chain.Leaf()
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("verify %q: %w: leaf lacks digitalSignature", subjectOf(leaf), ErrKeyUsage)
	}
	for _, ca := range chain[1:] {
		if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fmt.Errorf("verify %q: %w: CA %q lacks keyCertSign", subjectOf(leaf), ErrKeyUsage, subjectOf(ca))
		}
	}
	return nil
}

// checkRevocation rejects a chain holding a revoked certificate, then, under
// the strict policy, one whose CAs lack a current CRL.
func (ts *TrustStore) checkRevocation(chain Chain, now time.Time) error {
	if r := ts.revocation(chain); r != nil {
		return revokedError(chain, r)
	}
	if ts.policy != CRLStrict {
		return nil
	}
	for _, issuer := range chain[1:] {
		if ok, why := ts.crls.currentCRL(issuer, now); !ok {
			return fmt.Errorf("verify %q: %w from CA %q (%s)", subjectOf(chain.Leaf()), ErrNoCRL, subjectOf(issuer), why)
		}
	}
	return nil
}

func revokedError(chain Chain, r *revokedEntry) error {
	return fmt.Errorf("verify %q: %w: %q serial %s revoked by %q at %s (%s)", subjectOf(chain.Leaf()), ErrRevoked,
		subjectOf(r.Cert), r.Cert.SerialNumber.Text(16), subjectOf(r.Issuer),
		r.Time.UTC().Format(time.RFC3339), ReasonName(r.Reason))
}

// revocation returns the first revoked certificate of chain, leaf first.
func (ts *TrustStore) revocation(chain Chain) *revokedEntry {
	for i := 0; i+1 < len(chain); i++ {
		if r := ts.crls.revocation(chain[i], chain[i+1]); r != nil {
			return r
		}
	}
	return nil
}

// Recheck applies the revocation checks of Verify again to a chain Verify
// returned earlier, for established SAs after a CRL update or when a CRL
// expires under the strict policy.
func (ts *TrustStore) Recheck(chain Chain, now time.Time) error {
	return ts.checkRevocation(chain, now)
}

// RevokedAmong returns the indexes of the chains (as returned by Verify for
// established SAs) that hold a certificate revoked by a stored CRL, so the
// daemon can tear those SAs down after CRLs().Update reports a new CRL.
func (ts *TrustStore) RevokedAmong(chains []Chain) []int {
	var out []int
	for i, c := range chains {
		if len(c) > 0 && ts.revocation(c) != nil {
			out = append(out, i)
		}
	}
	return out
}

// KeyHash is the SHA-1 hash of a certificate's SubjectPublicKeyInfo, the
// form in which CERTREQ payloads name acceptable CAs (RFC 7296 3.7).
type KeyHash [sha1.Size]byte

// KeyHashOf returns the KeyHash of cert.
func KeyHashOf(cert *x509.Certificate) KeyHash {
	return sha1.Sum(cert.RawSubjectPublicKeyInfo)
}

// CAKeyHashes returns the KeyHash of every configured CA, roots first: the
// Certification Authority data of our CERTREQ is their concatenation.
func (ts *TrustStore) CAKeyHashes() []KeyHash {
	out := make([]KeyHash, 0, len(ts.roots)+len(ts.intermediates))
	for _, c := range ts.roots {
		out = append(out, KeyHashOf(c))
	}
	for _, c := range ts.intermediates {
		out = append(out, KeyHashOf(c))
	}
	return out
}

// CAByKeyHash finds the configured CA (root or intermediate) a CERTREQ hash
// names.
func (ts *TrustStore) CAByKeyHash(h KeyHash) (*x509.Certificate, bool) {
	for _, list := range [][]*x509.Certificate{ts.roots, ts.intermediates} {
		for _, c := range list {
			if KeyHashOf(c) == h {
				return c, true
			}
		}
	}
	return nil, false
}

// SplitKeyHashes splits CERTREQ Certification Authority data into hashes.
func SplitKeyHashes(data []byte) ([]KeyHash, error) {
	if len(data)%sha1.Size != 0 {
		return nil, fmt.Errorf("CERTREQ authority data of %d bytes is not a multiple of %d", len(data), sha1.Size)
	}
	out := make([]KeyHash, len(data)/sha1.Size)
	for i := range out {
		copy(out[i][:], data[i*sha1.Size:])
	}
	return out, nil
}
