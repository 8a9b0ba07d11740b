package pki

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	p := newTestPKI(t, true)
	interCRL := p.inter.currentCRL(t, 1, p.revokedLeaf.cert)
	rootCRL := p.root.currentCRL(t, 1)
	rootCRLRevokingInter := p.root.currentCRL(t, 2, p.inter.cert)
	expiredInterCRL := p.inter.crl(t, 1, testNow.Add(-30*24*time.Hour), testNow.Add(-24*time.Hour), p.revokedLeaf.cert)

	type tc struct {
		name          string
		leaf          *testCA
		sent          []*x509.Certificate // intermediates in the peer's CERT payloads
		configInter   bool                // the intermediate is configured locally
		crls          []*x509.RevocationList
		policy        CRLPolicy
		now           time.Time
		want          error // nil: must verify
		wantChainLen  int
		wantErrSubstr string
	}
	inter := []*x509.Certificate{p.inter.cert}
	cases := []tc{
		{name: "good ECDSA chain, intermediate sent", leaf: p.leaf, sent: inter, wantChainLen: 3},
		{name: "good chain, intermediate configured", leaf: p.leaf, configInter: true, wantChainLen: 3},
		{name: "good RSA 2048 leaf", leaf: p.rsaLeaf, sent: inter, wantChainLen: 3},
		{name: "good Ed25519 leaf", leaf: p.edLeaf, sent: inter, wantChainLen: 3},
		{name: "unknown CA", leaf: p.orphan, sent: inter, want: ErrUnknownCA},
		{name: "intermediate neither sent nor configured", leaf: p.leaf, want: ErrUnknownCA},
		{name: "same-name intermediate of another root", leaf: p.leaf, sent: []*x509.Certificate{p.interTwin.cert}, want: ErrUnknownCA},
		{name: "expired leaf", leaf: p.expiredLeaf, sent: inter, want: ErrExpired},
		{name: "not yet valid leaf", leaf: p.futureLeaf, sent: inter, want: ErrNotYetValid},
		{name: "intermediate expired", leaf: p.leafOfExpiredInter, sent: []*x509.Certificate{p.expiredInter.cert}, want: ErrExpired, wantErrSubstr: "Old Intermediate"},
		{name: "leaf without digitalSignature", leaf: p.encipherOnlyLeaf, sent: inter, want: ErrKeyUsage},
		{name: "CA without keyCertSign", leaf: p.leafOfNoCertSign, sent: []*x509.Certificate{p.noCertSignInter.cert}, want: ErrKeyUsage, wantErrSubstr: "CRL-only CA"},
		{name: "CA below path length 0 intermediate", leaf: p.subLeaf, sent: []*x509.Certificate{p.inter.cert, p.subInter.cert}, want: ErrPathLength},
		{name: "issuer is not a CA", leaf: p.child, sent: []*x509.Certificate{p.inter.cert, p.notCAIssuer.cert}, want: ErrNotCA, wantErrSubstr: "notca.example.net"},
		{name: "relaxed without CRL", leaf: p.leaf, sent: inter, policy: CRLRelaxed, wantChainLen: 3},
		{name: "relaxed, CRL lists another cert", leaf: p.leaf, sent: inter, crls: []*x509.RevocationList{interCRL}, wantChainLen: 3},
		{name: "revoked, relaxed", leaf: p.revokedLeaf, sent: inter, crls: []*x509.RevocationList{interCRL}, want: ErrRevoked, wantErrSubstr: "keyCompromise"},
		{name: "revoked, strict", leaf: p.revokedLeaf, sent: inter, crls: []*x509.RevocationList{interCRL, rootCRL}, policy: CRLStrict, want: ErrRevoked},
		{name: "revoked by expired CRL, relaxed", leaf: p.revokedLeaf, sent: inter, crls: []*x509.RevocationList{expiredInterCRL}, want: ErrRevoked},
		{name: "revoked by expired CRL, strict", leaf: p.revokedLeaf, sent: inter, crls: []*x509.RevocationList{expiredInterCRL}, policy: CRLStrict, want: ErrRevoked},
		{name: "strict without any CRL", leaf: p.leaf, sent: inter, policy: CRLStrict, want: ErrNoCRL, wantErrSubstr: "Intermediate CA"},
		{name: "strict without root CRL", leaf: p.leaf, sent: inter, crls: []*x509.RevocationList{interCRL}, policy: CRLStrict, want: ErrNoCRL, wantErrSubstr: "Root CA"},
		{name: "strict with expired CRL", leaf: p.leaf, sent: inter, crls: []*x509.RevocationList{expiredInterCRL, rootCRL}, policy: CRLStrict, want: ErrNoCRL, wantErrSubstr: "expired"},
		{name: "strict with current CRLs", leaf: p.leaf, sent: inter, crls: []*x509.RevocationList{interCRL, rootCRL}, policy: CRLStrict, wantChainLen: 3},
		{name: "intermediate revoked by root CRL, relaxed", leaf: p.leaf, sent: inter, crls: []*x509.RevocationList{rootCRLRevokingInter}, want: ErrRevoked, wantErrSubstr: "Intermediate CA"},
		{name: "intermediate revoked by root CRL, strict", leaf: p.leaf, sent: inter, crls: []*x509.RevocationList{interCRL, rootCRLRevokingInter}, policy: CRLStrict, want: ErrRevoked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := TrustConfig{Roots: []*x509.Certificate{p.root.cert}, CRLs: c.crls, CRLPolicy: c.policy}
			if c.configInter || len(c.crls) > 0 {
				cfg.Intermediates = inter
			}
			ts, err := NewTrustStore(cfg)
			if err != nil {
				t.Fatal(err)
			}
			now := testNow
			if !c.now.IsZero() {
				now = c.now
			}
			// The second pass meets whatever the first left in the path
			// cache and must come to the same verdict.
			for _, pass := range []string{"fresh", "repeated"} {
				chain, err := ts.Verify(c.leaf.cert, c.sent, now)
				if c.want == nil {
					if err != nil {
						t.Fatalf("%s Verify: %v", pass, err)
					}
					if len(chain) != c.wantChainLen || chain.Leaf() != c.leaf.cert || !chain.Root().Equal(p.root.cert) {
						t.Fatalf("%s: chain of %d certs, leaf %v root %v", pass, len(chain), chain.Leaf().Subject, chain.Root().Subject)
					}
					continue
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("%s Verify error %v, want %v", pass, err, c.want)
				}
				if c.wantErrSubstr != "" && !strings.Contains(err.Error(), c.wantErrSubstr) {
					t.Fatalf("%s: error %q lacks %q", pass, err, c.wantErrSubstr)
				}
			}
		})
	}
}

func TestNewTrustStoreRejectsBadCRLs(t *testing.T) {
	p := newTestPKI(t, false)
	roots := []*x509.Certificate{p.root.cert}
	cases := []struct {
		name  string
		inter []*x509.Certificate
		crl   *x509.RevocationList
		roots []*x509.Certificate
		want  error
	}{
		// interTwin has the intermediate's name but another key: its CRL
		// claims to be the intermediate's and must not verify.
		{"CRL signed by another CA", nil, p.interTwin.currentCRL(t, 5, p.leaf.cert), roots, ErrCRLSignature},
		{"CRL of an unknown CA", nil, p.otherRoot.currentCRL(t, 1), roots, ErrCRLUnknownIssuer},
		{"leaf configured as root", nil, nil, []*x509.Certificate{p.leaf.cert}, ErrNotCA},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := TrustConfig{Roots: c.roots, Intermediates: []*x509.Certificate{p.inter.cert}}
			if c.crl != nil {
				cfg.CRLs = []*x509.RevocationList{c.crl}
			}
			_, err := NewTrustStore(cfg)
			if !errors.Is(err, c.want) {
				t.Fatalf("NewTrustStore error %v, want %v", err, c.want)
			}
		})
	}
}

func TestCRLUpdate(t *testing.T) {
	p := newTestPKI(t, false)
	ts, err := NewTrustStore(TrustConfig{
		Roots:         []*x509.Certificate{p.root.cert},
		Intermediates: []*x509.Certificate{p.inter.cert},
		CRLs:          []*x509.RevocationList{p.inter.currentCRL(t, 5)},
	})
	if err != nil {
		t.Fatal(err)
	}
	established := []Chain{
		mustVerify(t, ts, p.leaf),
		mustVerify(t, ts, p.revokedLeaf),
		mustVerify(t, ts, p.edLeaf),
	}
	steps := []struct {
		name        string
		crl         *x509.RevocationList
		wantUpdated bool
		wantErr     error
		wantRevoked []int
	}{
		{"older number ignored", p.inter.currentCRL(t, 4, p.revokedLeaf.cert), false, nil, nil},
		{"same number ignored", p.inter.currentCRL(t, 5, p.revokedLeaf.cert), false, nil, nil},
		{"signed by another CA refused", p.interTwin.currentCRL(t, 9, p.revokedLeaf.cert), false, ErrCRLSignature, nil},
		{"newer number replaces", p.inter.currentCRL(t, 6, p.revokedLeaf.cert), true, nil, []int{1}},
		{"newer still, two revoked", p.inter.currentCRL(t, 7, p.revokedLeaf.cert, p.edLeaf.cert), true, nil, []int{1, 2}},
		{"root CRL revoking the intermediate", p.root.currentCRL(t, 1, p.inter.cert), true, nil, []int{0, 1, 2}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			updated, err := ts.CRLs().Update(s.crl)
			if !errors.Is(err, s.wantErr) || updated != s.wantUpdated {
				t.Fatalf("Update = %v, %v; want %v, %v", updated, err, s.wantUpdated, s.wantErr)
			}
			got := ts.RevokedAmong(established)
			if len(got) != len(s.wantRevoked) {
				t.Fatalf("RevokedAmong = %v, want %v", got, s.wantRevoked)
			}
			for i := range got {
				if got[i] != s.wantRevoked[i] {
					t.Fatalf("RevokedAmong = %v, want %v", got, s.wantRevoked)
				}
			}
			for _, i := range got {
				if err := ts.Recheck(established[i], testNow); !errors.Is(err, ErrRevoked) {
					t.Fatalf("Recheck of revoked chain %d: %v", i, err)
				}
			}
		})
	}
	if n := len(ts.CRLs().All()); n != 2 {
		t.Fatalf("store holds %d CRLs, want 2", n)
	}
}

func TestCRLUpdateByThisUpdate(t *testing.T) {
	p := newTestPKI(t, false)
	store := NewCRLStore([]*x509.Certificate{p.inter.cert})
	// CRLs without a number compare by thisUpdate.
	mk := func(this time.Time) *x509.RevocationList {
		crl := p.inter.crl(t, 1, this, this.Add(24*time.Hour))
		crl.Number = nil
		return crl
	}
	for _, s := range []struct {
		crl  *x509.RevocationList
		want bool
	}{{mk(testNow), true}, {mk(testNow.Add(-time.Hour)), false}, {mk(testNow.Add(time.Hour)), true}} {
		got, err := store.Update(s.crl)
		if err != nil || got != s.want {
			t.Fatalf("Update(thisUpdate %v) = %v, %v; want %v", s.crl.ThisUpdate, got, err, s.want)
		}
	}
	if got := store.ForIssuer(p.inter.cert).ThisUpdate; !got.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("stored CRL thisUpdate %v", got)
	}
}

func TestCRLUpdateFrom(t *testing.T) {
	p := newTestPKI(t, false)
	// Only the root is configured; the intermediate arrives from the peer.
	ts, err := NewTrustStore(TrustConfig{Roots: []*x509.Certificate{p.root.cert}, CRLPolicy: CRLStrict})
	if err != nil {
		t.Fatal(err)
	}
	crl := p.inter.currentCRL(t, 1, p.revokedLeaf.cert)
	if _, err := ts.CRLs().Update(crl); !errors.Is(err, ErrCRLUnknownIssuer) {
		t.Fatalf("Update of an unconfigured CA's CRL: %v", err)
	}
	if _, err := ts.CRLs().UpdateFrom(crl, p.otherRoot.cert); !errors.Is(err, ErrCRLUnknownIssuer) {
		t.Fatalf("UpdateFrom with the wrong issuer: %v", err)
	}
	if _, err := ts.CRLs().UpdateFrom(crl, p.interTwin.cert); !errors.Is(err, ErrCRLSignature) {
		t.Fatalf("UpdateFrom with a same-name issuer: %v", err)
	}
	if ok, err := ts.CRLs().UpdateFrom(crl, p.inter.cert); !ok || err != nil {
		t.Fatalf("UpdateFrom = %v, %v", ok, err)
	}
	if _, err := ts.CRLs().Update(p.root.currentCRL(t, 1)); err != nil {
		t.Fatal(err)
	}
	sent := []*x509.Certificate{p.inter.cert}
	if _, err := ts.Verify(p.leaf.cert, sent, testNow); err != nil {
		t.Fatalf("good leaf: %v", err)
	}
	if _, err := ts.Verify(p.revokedLeaf.cert, sent, testNow); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked leaf: %v", err)
	}
	// Strict: the same chain fails once the CRLs pass next-update.
	if _, err := ts.Verify(p.leaf.cert, sent, testNow.Add(8*24*time.Hour)); !errors.Is(err, ErrNoCRL) {
		t.Fatalf("after next-update: %v", err)
	}
}

func mustVerify(t *testing.T, ts *TrustStore, leaf *testCA) Chain {
	t.Helper()
	chain, err := ts.Verify(leaf.cert, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func TestCAKeyHashes(t *testing.T) {
	p := newTestPKI(t, false)
	ts, err := NewTrustStore(TrustConfig{Roots: []*x509.Certificate{p.root.cert}, Intermediates: []*x509.Certificate{p.inter.cert}})
	if err != nil {
		t.Fatal(err)
	}
	hashes := ts.CAKeyHashes()
	if len(hashes) != 2 {
		t.Fatalf("%d hashes", len(hashes))
	}
	var certreq []byte
	for _, h := range hashes {
		certreq = append(certreq, h[:]...)
	}
	split, err := SplitKeyHashes(certreq)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []*x509.Certificate{p.root.cert, p.inter.cert} {
		got, ok := ts.CAByKeyHash(split[i])
		if !ok || !got.Equal(want) {
			t.Fatalf("hash %d: found %v", i, ok)
		}
	}
	if _, ok := ts.CAByKeyHash(KeyHashOf(p.otherRoot.cert)); ok {
		t.Fatal("other root found by its key hash")
	}
	if _, err := SplitKeyHashes(make([]byte, 21)); err == nil {
		t.Fatal("21-byte CERTREQ data accepted")
	}
}
