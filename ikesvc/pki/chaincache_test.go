package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// reparse returns a fresh object for the same certificate, as the next
// handshake's CERT payload would give.
func reparse(t *testing.T, c *x509.Certificate) *x509.Certificate {
	t.Helper()
	out, err := x509.ParseCertificate(c.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newStore(t *testing.T, cfg TrustConfig) *TrustStore {
	t.Helper()
	ts, err := NewTrustStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestVerifyServesRepeatedChainFromCache checks that the second Verify of
// the same certificates reuses the first's path (no new x509 build: its
// intermediate is the first call's object, though the caller passed a new
// one) and still hands back the caller's own leaf.
func TestVerifyServesRepeatedChainFromCache(t *testing.T) {
	p := newTestPKI(t, false)
	ts := newStore(t, TrustConfig{Roots: []*x509.Certificate{p.root.cert}})
	first, err := ts.Verify(p.leaf.cert, []*x509.Certificate{p.inter.cert}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	leaf2, inter2 := reparse(t, p.leaf.cert), reparse(t, p.inter.cert)
	second, err := ts.Verify(leaf2, []*x509.Certificate{inter2}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if second.Leaf() != leaf2 {
		t.Fatal("cached chain does not lead with the caller's leaf")
	}
	if second[1] != first[1] {
		t.Fatal("second Verify built a new path instead of using the cached one")
	}
	if first.Leaf() != p.leaf.cert {
		t.Fatal("serving from the cache modified the first caller's chain")
	}
	if n := ts.paths.len(); n != 1 {
		t.Fatalf("cache holds %d entries, want 1", n)
	}
}

// TestVerifyCacheRechecksTimeAndRevocation: a cached path is re-examined at
// every use against the clock and the CRLs.
func TestVerifyCacheRechecksTimeAndRevocation(t *testing.T) {
	p := newTestPKI(t, false)
	shortInter := makeCert(t, p.root, certOpts{subject: "C=JP, O=Example, CN=Short Intermediate CA", isCA: true, pathLen: 0,
		notAfter: testNow.Add(10 * 24 * time.Hour)})
	leafOfShort := makeCert(t, shortInter, certOpts{subject: "C=JP, O=Example, CN=gw5.example.net"})
	inter := []*x509.Certificate{p.inter.cert}

	cases := []struct {
		name  string
		leaf  *testCA
		sent  []*x509.Certificate
		later func(t *testing.T, ts *TrustStore) time.Time // changes the world, returns the new now
		want  error
	}{
		{name: "leaf expired since", leaf: p.leaf, sent: inter,
			later: func(*testing.T, *TrustStore) time.Time { return testNow.Add(200 * 24 * time.Hour) }, want: ErrExpired},
		{name: "intermediate expired since, leaf still valid", leaf: leafOfShort, sent: []*x509.Certificate{shortInter.cert},
			later: func(*testing.T, *TrustStore) time.Time { return testNow.Add(20 * 24 * time.Hour) }, want: ErrExpired},
		{name: "leaf revoked by a new CRL", leaf: p.leaf, sent: inter,
			later: func(t *testing.T, ts *TrustStore) time.Time {
				if _, err := ts.CRLs().Update(p.inter.currentCRL(t, 2, p.leaf.cert)); err != nil {
					t.Fatal(err)
				}
				return testNow
			}, want: ErrRevoked},
		{name: "intermediate revoked by a new root CRL", leaf: p.leaf, sent: inter,
			later: func(t *testing.T, ts *TrustStore) time.Time {
				if _, err := ts.CRLs().Update(p.root.currentCRL(t, 2, p.inter.cert)); err != nil {
					t.Fatal(err)
				}
				return testNow
			}, want: ErrRevoked},
		{name: "unrelated CRL keeps the chain good", leaf: p.leaf, sent: inter,
			later: func(t *testing.T, ts *TrustStore) time.Time {
				if _, err := ts.CRLs().Update(p.inter.currentCRL(t, 2, p.revokedLeaf.cert)); err != nil {
					t.Fatal(err)
				}
				return testNow
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newStore(t, TrustConfig{Roots: []*x509.Certificate{p.root.cert}, Intermediates: inter,
				CRLs: []*x509.RevocationList{p.inter.currentCRL(t, 1), p.root.currentCRL(t, 1)}})
			if _, err := ts.Verify(c.leaf.cert, c.sent, testNow); err != nil {
				t.Fatalf("first Verify: %v", err)
			}
			now := c.later(t, ts)
			_, err := ts.Verify(reparse(t, c.leaf.cert), c.sent, now)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify after the change: %v, want %v", err, c.want)
			}
		})
	}
}

// TestVerifyCacheStrictCRLExpiry: under the strict policy a cached chain is
// refused once its CA's CRL is past next-update, without any CRL change.
func TestVerifyCacheStrictCRLExpiry(t *testing.T) {
	p := newTestPKI(t, false)
	ts := newStore(t, TrustConfig{Roots: []*x509.Certificate{p.root.cert}, Intermediates: []*x509.Certificate{p.inter.cert},
		CRLs: []*x509.RevocationList{p.inter.currentCRL(t, 1), p.root.currentCRL(t, 1)}, CRLPolicy: CRLStrict})
	if _, err := ts.Verify(p.leaf.cert, nil, testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Verify(p.leaf.cert, nil, testNow.Add(8*24*time.Hour)); !errors.Is(err, ErrNoCRL) {
		t.Fatalf("Verify with expired CRLs: %v, want %v", err, ErrNoCRL)
	}
}

// TestVerifyCacheKeyedByCertificate: a forged leaf copying a cached leaf's
// subject and issuer names is verified on its own and refused.
func TestVerifyCacheKeyedByCertificate(t *testing.T) {
	p := newTestPKI(t, false)
	ts := newStore(t, TrustConfig{Roots: []*x509.Certificate{p.root.cert}})
	inter := []*x509.Certificate{p.inter.cert}
	if _, err := ts.Verify(p.leaf.cert, inter, testNow); err != nil {
		t.Fatal(err)
	}
	// Same subject, issued by the same-named intermediate of another root.
	forged := makeCert(t, p.interTwin, certOpts{subject: "C=JP, O=Example, CN=gw1.example.net", dns: []string{"gw1.example.net"}})
	if _, err := ts.Verify(forged.cert, inter, testNow); !errors.Is(err, ErrUnknownCA) {
		t.Fatalf("forged leaf: %v, want %v", err, ErrUnknownCA)
	}
	if _, err := ts.Verify(forged.cert, []*x509.Certificate{p.interTwin.cert}, testNow); !errors.Is(err, ErrUnknownCA) {
		t.Fatalf("forged leaf with its own intermediate: %v, want %v", err, ErrUnknownCA)
	}
	// The genuine leaf without the intermediate it was cached with is
	// another set and cannot chain.
	if _, err := ts.Verify(p.leaf.cert, nil, testNow); !errors.Is(err, ErrUnknownCA) {
		t.Fatalf("genuine leaf without intermediate: %v, want %v", err, ErrUnknownCA)
	}
}

func TestChainCacheBounded(t *testing.T) {
	p := newTestPKI(t, false)
	ts := newStore(t, TrustConfig{Roots: []*x509.Certificate{p.root.cert}})
	const max = 4
	ts.paths = newChainCache(max)
	inter := []*x509.Certificate{p.inter.cert}
	var leaves []*testCA
	for i := range 3 * max {
		leaves = append(leaves, makeCert(t, p.inter, certOpts{subject: fmt.Sprintf("C=JP, O=Example, CN=gw%d.example.org", i)}))
	}
	for round := range 2 {
		for i, l := range leaves {
			if _, err := ts.Verify(l.cert, inter, testNow); err != nil {
				t.Fatalf("round %d leaf %d: %v", round, i, err)
			}
			if n := ts.paths.len(); n > max {
				t.Fatalf("cache holds %d entries, bound %d", n, max)
			}
		}
	}
	if n := ts.paths.len(); n != max {
		t.Fatalf("cache holds %d entries after %d sets, want %d", n, len(leaves), max)
	}
}

func TestChainCacheDroppedOnCRLUpdate(t *testing.T) {
	p := newTestPKI(t, false)
	ts := newStore(t, TrustConfig{Roots: []*x509.Certificate{p.root.cert}, Intermediates: []*x509.Certificate{p.inter.cert}})
	mustVerify(t, ts, p.leaf)
	mustVerify(t, ts, p.edLeaf)
	if _, err := ts.CRLs().Update(p.inter.currentCRL(t, 1)); err != nil {
		t.Fatal(err)
	}
	if got := ts.paths.get(keyOfPresented(p.leaf.cert, nil), ts.crls.generation()); got != nil {
		t.Fatal("cached path survived a CRL update")
	}
	if n := ts.paths.len(); n != 0 {
		t.Fatalf("cache holds %d entries after a CRL update, want 0", n)
	}
	// A path built before the update must not come back into the cache.
	stale := ts.crls.generation() - 1
	ts.paths.put(keyOfPresented(p.leaf.cert, nil), []Chain{{p.leaf.cert, p.inter.cert, p.root.cert}}, stale)
	if n := ts.paths.len(); n != 0 {
		t.Fatalf("a path of an older CRL generation was cached (%d entries)", n)
	}
}

// TestVerifyCacheConcurrent runs handshakes' verifications while CRLs
// arrive (go test -race); the last CRL revokes the leaf, which must stick.
func TestVerifyCacheConcurrent(t *testing.T) {
	p := newTestPKI(t, false)
	ts := newStore(t, TrustConfig{Roots: []*x509.Certificate{p.root.cert}})
	inter := []*x509.Certificate{p.inter.cert}
	var crls []*x509.RevocationList
	for n := int64(1); n <= 5; n++ {
		crls = append(crls, p.inter.currentCRL(t, n, p.revokedLeaf.cert))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				leaf := p.leaf.cert
				if (g+i)%2 == 1 {
					leaf = p.edLeaf.cert
				}
				if _, err := ts.Verify(leaf, inter, testNow); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, crl := range crls {
			if _, err := ts.CRLs().UpdateFrom(crl, p.inter.cert); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := ts.CRLs().UpdateFrom(p.inter.currentCRL(t, 6, p.leaf.cert), p.inter.cert); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Verify(p.leaf.cert, inter, testNow); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Verify after the revoking CRL: %v, want %v", err, ErrRevoked)
	}
	if _, err := ts.Verify(p.edLeaf.cert, inter, testNow); err != nil {
		t.Fatalf("Verify of an unrevoked leaf: %v", err)
	}
}
