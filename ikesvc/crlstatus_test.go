package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/kernel"
)

// TestCRLStatusOverControlSocket: the daemon answers crls on its control
// socket with "off" until crl-fetch is on, then with the URL a peer's
// certificate named and why its fetch fails, and "off" again after.
func TestCRLStatusOverControlSocket(t *testing.T) {
	cdp := httptest.NewServer(http.NotFoundHandler())
	defer cdp.Close()
	p := newHostPKI(t)
	base := p.hostConfig(t, "a", netip.MustParseAddr("192.0.2.1"), "gw2", netip.MustParseAddr("192.0.2.2"), "none")
	mem, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{logf: t.Logf, verbosef: func(string, ...any) {}, kern: mem, transport: nullTransport{}, port: 500, nattPort: 4500}
	defer d.close()

	sock := filepath.Join(t.TempDir(), "ikesvc.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go control.Serve(ctx, ln, d, t.Logf)
	c, err := control.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	apply := func(extra string) {
		t.Helper()
		cfg, err := settext.ParseString(base + extra)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.apply(cfg, "test"); err != nil {
			t.Fatal(err)
		}
	}
	crls := func() (control.CRLFetch, string) {
		t.Helper()
		st, err := c.CRLs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if code := runCRLs(ctx, c, &out, &errOut); code != 0 {
			t.Fatalf("runCRLs = %d: %s", code, errOut.String())
		}
		return st, out.String()
	}

	if st, out := crls(); st.Enabled || len(st.URLs) != 0 || !strings.Contains(out, "CRL fetching is off") {
		t.Errorf("before crl-fetch on: %+v\n%s", st, out)
	}
	apply("set ipsec crl-fetch on\n")
	if st, out := crls(); !st.Enabled || len(st.URLs) != 0 || !strings.Contains(out, "no distribution point seen yet") {
		t.Errorf("crl-fetch on, no CDP: %+v\n%s", st, out)
	}
	url := cdp.URL + "/inter.crl"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	peer := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "gw2.example.net"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		CRLDistributionPoints: []string{url}}, p.inter, &key.PublicKey, p.interKey)
	d.watchPeer(peer, []*x509.Certificate{p.inter})
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, out := crls()
		if len(st.URLs) == 1 && st.URLs[0].Failures > 0 {
			if !strings.Contains(out, "  FAILING  "+url+"\n") || !strings.Contains(out, "404 Not Found") {
				t.Errorf("after a failed fetch:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed fetch reported: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	apply("")
	if st, out := crls(); st.Enabled || len(st.URLs) != 0 || !strings.Contains(out, "CRL fetching is off") {
		t.Errorf("after crl-fetch off: %+v\n%s", st, out)
	}
}
