package ike

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"alixsec.dev/ikesvc/crlfetch"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/wire"
)

// cdpLeaf issues a leaf of p's intermediate naming cdp as its CRL
// distribution point.
func cdpLeaf(t *testing.T, p *testPKI, cn string, addr netip.Addr, cdp string) (*x509.Certificate, *x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t, "ecdsa")
	p.serial++
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{"Example"}, CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, DNSNames: []string{cn}, IPAddresses: []net.IP{addr.AsSlice()},
		CRLDistributionPoints: []string{cdp},
	}
	return p.create(t, tmpl, p.inter, key.Public(), p.interKey), p.inter, key
}

// TestFetchedCRLTearsDownRevokedPeer: B runs the strict CRL policy with no
// CRL at all and fetches from the distribution point in A's certificate.
// A's first attempt is refused (no CRL yet) while the fetch runs; its retry
// is admitted. Then the CDP serves a CRL revoking A: B's fetcher stores it,
// B deletes the IKE SA (A is told and deletes too, kernel SAs go on both
// sides), and A's next attempt is refused as revoked.
func TestFetchedCRLTearsDownRevokedPeer(t *testing.T) {
	ca := newTestPKI(t, "Example", "ecdsa")
	var mu sync.Mutex
	var body []byte
	// The CDP answers only once A's first attempt has been refused: the
	// fetch runs on its own goroutine and could otherwise win the race
	// against the IKE_AUTH it was started by.
	cdpOpen := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-cdpOpen:
		case <-r.Context().Done():
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.Write(body)
	}))
	defer srv.Close()
	serveCRL := func(n int64) {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(n), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
			RevokedCertificateEntries: ca.revoked,
		}, ca.inter, ca.interKey)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		body = der
		mu.Unlock()
	}
	serveCRL(1)

	p := &pair{net: newTestNet(), clock: newFakeClock()}
	addrA, addrB := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	certA, interA, keyA := cdpLeaf(t, ca, "a.example.net", addrA, srv.URL+"/inter.crl")
	certB, interB, keyB := cdpLeaf(t, ca, "b.example.net", addrB, srv.URL+"/inter.crl")
	// The root's CRL is configured (imported by the admin); the
	// intermediate, which B learns only from A's CERT payloads, has its
	// CRL at the distribution point.
	rootDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
	}, ca.root, ca.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootCRL, err := x509.ParseRevocationList(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	trustB, err := pki.NewTrustStore(pki.TrustConfig{Roots: []*x509.Certificate{ca.root}, CRLs: []*x509.RevocationList{rootCRL}, CRLPolicy: pki.CRLStrict})
	if err != nil {
		t.Fatal(err)
	}
	p.a = newEndpointWith(t, p.net, p.clock, "a", addrA, certA, keyA, interA, ca.trust(t))
	p.b = newEndpointWith(t, p.net, p.clock, "b", addrB, certB, keyB, interB, trustB)

	fetcher, err := crlfetch.New(crlfetch.Config{
		Clock: p.clock, Client: srv.Client(), Logf: p.b.log.logf,
		Established: p.b.engine.PeerChains,
		Revoked:     func([]pki.Chain) { p.b.engine.DeleteRevoked() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fetcher.Close()
	fetcher.SetTrust(trustB)
	p.b.engine.cfg.PeerCertificates = fetcher.Watch // before any traffic

	p.pa = PeerConfig{Name: "b", Remote: addrB, RemoteID: matcher(t, "C=JP, O=Example, CN=*"), Mode: kernel.ModeTransport,
		IKE: mustProposals(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-ecp256"), ESP: mustProposals(t, wire.ProtocolESP, "aes128-sha256"),
		StartAction: StartStart}
	p.pb = PeerConfig{Name: "a", Remote: addrA, RemoteID: matcher(t, "C=JP, O=Example, CN=*"), Mode: kernel.ModeTransport,
		IKE: p.pa.IKE, ESP: p.pa.ESP, StartAction: StartNone}
	p.start(t)
	p.checkDown(t)
	if n := p.b.log.count("no current CRL"); n == 0 {
		t.Fatalf("b did not refuse the first attempt for want of a CRL: %q", p.b.log.errors)
	}
	close(cdpOpen)
	waitUntil(t, "b's fetcher to store the CRL", func() bool { return trustB.CRLs().ForIssuer(ca.inter) != nil })

	p.advance(t, RestartDelay+time.Second)
	p.checkUp(t, kernel.ModeTransport)

	ca.revoke(certA)
	serveCRL(2)
	fetcher.FetchNow() // what the refetch timer does before next-update
	waitUntil(t, "b to delete the revoked peer's SA", func() bool {
		for _, st := range p.b.engine.Status(context.Background()) {
			if st.State == "established" {
				return false
			}
		}
		return true
	})
	p.net.run(t) // B's Delete reaches A, A's answer reaches B
	p.checkDown(t)
	if st := p.a.engine.Status(context.Background()); len(st) != 0 {
		t.Fatalf("a keeps IKE SAs after b's Delete: %+v", st)
	}
	if n := p.b.log.count("peer certificate revoked"); n != 1 {
		t.Errorf("b logged the revocation teardown %d times, want once", n)
	}

	before := p.b.log.count("revoked")
	p.advance(t, RestartDelay+time.Second)
	p.checkDown(t)
	if p.b.log.count("revoked") <= before {
		t.Errorf("b did not refuse a's new attempt as revoked: %q", p.b.log.errors)
	}
}

// waitUntil polls cond (the fetcher works in goroutines) for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
