package interop

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"alixsec.dev/configsvc/settext"
)

// TestTestPKI checks what alixca made for the tests: identities, the
// revoked host in the intermediate's CRL, bundles' set lines, and that the
// ikesvc configs built from them load and validate with configsvc's own
// code (so the ikesvc tests fail on ikesvc, not on their config).
func TestTestPKI(t *testing.T) {
	p := requireRoot(t)
	for _, h := range testHosts {
		creds := p.Hosts[h.name]
		if want := "C=CH, O=alixsec interop, CN=" + h.name; creds.ID != want {
			t.Errorf("%s: ID %q, want %q", h.name, creds.ID, want)
		}
		if h.revoke != (creds.ConfigSet == "") {
			t.Errorf("%s: revoked %v but bundle config %d bytes", h.name, h.revoke, len(creds.ConfigSet))
		}
	}
	revoked := parseCert(t, p.Hosts[HostRevoked].Cert)
	crl := parseCRL(t, p.Main.CRLs[1])
	if !crlLists(crl, revoked.SerialNumber) {
		t.Errorf("intermediate CRL does not list the revoked host's serial %X", revoked.SerialNumber)
	}
	if crlLists(crl, parseCert(t, p.Hosts[HostMoon].Cert).SerialNumber) {
		t.Errorf("intermediate CRL lists moon")
	}
	stranger := parseCert(t, p.Hosts[HostStranger].Cert)
	if got := parseCert(t, p.Main.Intermediate.PEM).Subject.String(); stranger.Issuer.String() == got {
		t.Errorf("stranger is issued by the main intermediate")
	}
	if k := parseCert(t, p.Hosts[HostMoonRSA].Cert).PublicKeyAlgorithm; k != x509.RSA {
		t.Errorf("moon-rsa key %v, want RSA", k)
	}
	moonSet := p.Hosts[HostMoon].ConfigSet
	for _, want := range []string{
		`set ipsec local-id "C=CH, O=alixsec interop, CN=moon"`,
		"set ipsec key moon", "set ipsec certificate moon",
		"set ipsec ca-certificate root-ca", "set ipsec ca-certificate intermediate-ca",
		"set ipsec crl root-ca", "set ipsec crl intermediate-ca",
		"set pki key moon ", "set pki crl intermediate-ca ",
	} {
		if !strings.Contains(moonSet, want) {
			t.Errorf("moon's bundle config lacks %q", want)
		}
	}
	for _, initiate := range []bool{true, false} {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("ikesvc-config-initiate=%v-ipv6=%v", initiate, v6), func(t *testing.T) {
				cfg, err := IkesvcConfig(p.Hosts[HostMoonRSA], IkesvcPeer{
					Name: "charon", Local: pairAddr(0, v6), Remote: pairAddr(1, v6), Initiate: initiate,
					RemotePattern: HostPattern, CRLStrict: true,
					IKEProposal: testIKEProposal, ESPProposal: testESPProposal,
				})
				if err != nil {
					t.Fatal(err)
				}
				c, err := settext.Load(strings.NewReader(cfg))
				if err != nil {
					t.Fatalf("configsvc refuses the ikesvc test config: %v\n%s", err, cfg)
				}
				if back := string(settext.Format(c)); !strings.Contains(back, "start-action") {
					t.Errorf("formatted config lost the peer:\n%s", back)
				}
			})
		}
	}
	if _, err := IkesvcConfig(p.Hosts[HostRevoked], IkesvcPeer{Name: "x", RemotePattern: HostPattern}); err == nil {
		t.Errorf("IkesvcConfig for the revoked host (no bundle) succeeded")
	}
}

// pairAddr is Pair's address plan without making namespaces.
func pairAddr(i int, v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr(fmt.Sprintf("fd77::%d", i+1))
	}
	return netip.MustParseAddr(fmt.Sprintf("10.77.0.%d", i+1))
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseCRL(t *testing.T, crl NamedPEM) *x509.RevocationList {
	t.Helper()
	block, _ := pem.Decode(crl.PEM)
	if block == nil {
		t.Fatalf("%s: no PEM CRL", crl.Name)
	}
	l, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func crlLists(crl *x509.RevocationList, serial *big.Int) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return true
		}
	}
	return false
}

// TestCleanLeftovers plants what a crashed run leaves (a namespace named
// for a dead PID with a process inside) and checks that it is removed while
// a live run's pair stays.
func TestCleanLeftovers(t *testing.T) {
	requireRoot(t)
	ctx := testContext(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("%s%dx0000a", nsPrefix, dead.Process.Pid)
	if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNamespace(ns) })
	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "60")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	t.Cleanup(func() { _ = sleeper.Process.Kill() })
	live := newPair(t, "a", "b")

	removed, err := CleanLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != ns {
		t.Errorf("removed %v, want [%s]", removed, ns)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); !os.IsNotExist(err) {
		t.Errorf("leftover namespace %s still there (%v)", ns, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("process in the leftover namespace still runs")
	}
	for _, n := range []*Node{live.A, live.B} {
		if _, err := os.Stat(filepath.Join("/run/netns", n.NS)); err != nil {
			t.Errorf("live namespace %s removed: %v", n.NS, err)
		}
	}
}

// TestBenchResponder drives the bench's charon responder with a charon
// initiator from the other namespace.
func TestBenchResponder(t *testing.T) {
	requireRoot(t)
	ctx := testContext(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartCharonResponder(ctx, root, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("responder log:\n%s", withoutViciChatter(r.Charon.Log()))
		}
		if err := r.Close(); err != nil {
			t.Errorf("close responder: %v", err)
		}
	})
	conf, err := os.ReadFile(filepath.Join(r.Charon.Dir, "strongswan.conf"))
	if err != nil || !strings.Contains(string(conf), "dos_protection = no") || !strings.Contains(string(conf), "ike = 0") {
		t.Errorf("bench charon should run quiet without COOKIE demands (err %v):\n%s", err, conf)
	}
	if r.Addr != r.Pair.B.IPv4 {
		t.Errorf("responder address %v, want %v", r.Addr, r.Pair.B.IPv4)
	}
	moon := r.PKI.Hosts[HostMoon]
	ini := startCharon(t, r.Pair.A)
	if err := ini.Install(moon, r.PKI.CAs(), nil); err != nil {
		t.Fatal(err)
	}
	if err := ini.Configure(ctx, Conn{
		Name: "bench", LocalAddr: r.Pair.A.IPv4.String(), RemoteAddr: r.Addr.String(),
		Proposals: BenchIKEProposal, ESP: BenchESPProposal,
		LocalCert: moon.Name + ".crt", LocalID: moon.ID, RemoteID: HostPattern,
	}); err != nil {
		t.Fatal(err)
	}
	if out, err := ini.Initiate(ctx, "bench", 20*time.Second); err != nil {
		t.Fatalf("initiate: %v\n%s", err, out)
	}
	sas, err := r.Charon.WaitSAs(ctx, 10*time.Second, func(s []IKESA) bool {
		_, _, err := CheckTunnel(s, Expect{r.Addr.String(), r.Pair.A.IPv4.String(), r.PKI.Hosts[HostSun].ID, moon.ID})
		return err == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := sas[0].EncrAlg + "/" + sas[0].DHGroup; got != "AES_GCM_16/CURVE_25519" {
		t.Errorf("bench suite %s, want AES_GCM_16/CURVE_25519", got)
	}
}

// TestToolsPresent: after TestMain's install step everything the harness
// runs is there (a fresh machine gets it from deps.sh).
func TestToolsPresent(t *testing.T) {
	requireRoot(t)
	if m := MissingTools(); len(m) > 0 {
		t.Errorf("missing: %v", m)
	}
}
