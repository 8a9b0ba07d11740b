package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/init/svclog"
)

// syncBuffer is a daemon's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hostPKI is a root and an intermediate CA that issue the hosts' certificates.
type hostPKI struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
	serial            int64
}

func mustCert(t *testing.T, tmpl, parent *x509.Certificate, pub any, key any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newHostPKI(t *testing.T) *hostPKI {
	t.Helper()
	p := &hostPKI{serial: 10}
	p.rootKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.interKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	ca := func(serial int64, cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{"Example"}, CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	rt := ca(1, "Example Root CA")
	p.root = mustCert(t, rt, rt, &p.rootKey.PublicKey, p.rootKey)
	p.inter = mustCert(t, ca(2, "Example Intermediate CA"), p.root, &p.interKey.PublicKey, p.rootKey)
	return p
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// hostConfig is the set-line file of host name at addr with one peer.
func (p *hostPKI) hostConfig(t *testing.T, name string, addr netip.Addr, peer string, peerAddr netip.Addr, start string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.serial++
	now := time.Now()
	cert := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(p.serial),
		Subject:   pkix.Name{Country: []string{"JP"}, Organization: []string{"Example"}, CommonName: name + ".example.net"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{addr.AsSlice()}}, p.inter, &key.PublicKey, p.interKey)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	lines := [][]string{
		{"pki", "key", name, pemOf("PRIVATE KEY", keyDER)},
		{"pki", "certificate", name, string(pki.EncodeCertificatePEM(cert))},
		{"pki", "ca-certificate", "root", string(pki.EncodeCertificatePEM(p.root))},
		{"pki", "ca-certificate", "inter", string(pki.EncodeCertificatePEM(p.inter))},
		{"ipsec", "local-id", "C=JP, O=Example, CN=" + name + ".example.net"},
		{"ipsec", "key", name},
		{"ipsec", "certificate", name},
		{"ipsec", "ca-certificate", "root"},
		{"ipsec", "ca-certificate", "inter"},
		{"ipsec", "peer", peer, "address", peerAddr.String()},
		{"ipsec", "peer", peer, "remote-id-pattern", "C=JP, O=Example, CN=*"},
		{"ipsec", "peer", peer, "mode", "transport"},
		{"ipsec", "peer", peer, "start-action", start},
		{"ipsec", "peer", peer, "ike-proposal", "aes128gcm16-prfsha256-ecp256"},
		{"ipsec", "peer", peer, "esp-proposal", "aes128gcm16"},
	}
	c := &model.Config{}
	for _, l := range lines {
		if err := c.Set(l); err != nil {
			t.Fatalf("set %v: %v", l[:len(l)-1], err)
		}
	}
	return string(settext.Format(c))
}

// freePorts finds two UDP ports free on both loopback addresses.
func freePorts(t *testing.T) (uint16, uint16) {
	t.Helper()
	for try := 0; try < 50; try++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
		ok := true
		for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)} {
			for _, p := range []uint16{port, port + 1} {
				c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: int(p)})
				if err != nil {
					ok = false
					continue
				}
				c.Close()
			}
		}
		if ok && port < 65535 {
			return port, port + 1
		}
	}
	t.Fatal("no free UDP port pair")
	return 0, 0
}

type daemonProc struct {
	control string
	stderr  *syncBuffer
	done    chan int
}

func startDaemon(t *testing.T, ctx context.Context, dir, name, config, listen string, port, natt uint16) *daemonProc {
	t.Helper()
	cfgPath := filepath.Join(dir, name+".set")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{control: filepath.Join(dir, name+".sock"), stderr: &syncBuffer{}, done: make(chan int, 1)}
	args := []string{"-config", cfgPath, "-kernel", "memory", "-control", d.control, "-listen", listen,
		"-port", fmt.Sprint(port), "-natt-port", fmt.Sprint(natt), "-v"}
	go func() { d.done <- run(ctx, args, &bytes.Buffer{}, d.stderr) }()
	return d
}

func (d *daemonProc) show(t *testing.T) ([]control.IKESA, error) {
	t.Helper()
	c, err := control.Dial(d.control)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Show(context.Background())
}

// TestTwoDaemons runs two ikesvc daemons on 127.0.0.1 and 127.0.0.2 with
// memory kernels, configured from set-line files, and checks through the
// control sockets that IKE and CHILD SAs come up with matching SPIs, then
// go away on terminate.
func TestTwoDaemons(t *testing.T) {
	port, natt := freePorts(t)
	dir := t.TempDir()
	p := newHostPKI(t)
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	ctx, cancel := context.WithCancel(context.Background())
	db := startDaemon(t, ctx, dir, "b", p.hostConfig(t, "b", b, "a", a, "none"), b.String(), port, natt)
	waitFor(t, "b's control socket", func() bool { _, err := db.show(t); return err == nil })
	da := startDaemon(t, ctx, dir, "a", p.hostConfig(t, "a", a, "b", b, "start"), a.String(), port, natt)
	defer func() {
		cancel()
		for _, d := range []*daemonProc{da, db} {
			if code := <-d.done; code != 0 {
				t.Errorf("daemon exited %d:\n%s", code, d.stderr.String())
			}
		}
		if t.Failed() {
			t.Logf("a:\n%s\nb:\n%s", da.stderr.String(), db.stderr.String())
		}
	}()
	var sa, sb []control.IKESA
	waitFor(t, "both IKE and CHILD SAs", func() bool {
		var err1, err2 error
		sa, err1 = da.show(t)
		sb, err2 = db.show(t)
		return err1 == nil && err2 == nil && len(sa) == 1 && len(sb) == 1 &&
			sa[0].State == "established" && sb[0].State == "established" && len(sa[0].Children) == 1 && len(sb[0].Children) == 1
	})
	if sa[0].SPIi != sb[0].SPIi || sa[0].SPIr != sb[0].SPIr {
		t.Errorf("IKE SPIs differ: %s/%s vs %s/%s", sa[0].SPIi, sa[0].SPIr, sb[0].SPIi, sb[0].SPIr)
	}
	ca, cb := sa[0].Children[0], sb[0].Children[0]
	if ca.InSPI != cb.OutSPI || ca.OutSPI != cb.InSPI {
		t.Errorf("CHILD SPIs differ: a in %s out %s, b in %s out %s", ca.InSPI, ca.OutSPI, cb.InSPI, cb.OutSPI)
	}
	if sa[0].Peer != "b" || sb[0].Peer != "a" || ca.Mode != "transport" || !strings.Contains(sa[0].RemoteID, "CN=b.example.net") {
		t.Errorf("unexpected status: %+v / %+v", sa[0], sb[0])
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-control", da.control, "show"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "b: IKE SA ESTABLISHED") {
		t.Errorf("show exited %d: %s%s", code, out.String(), errOut.String())
	}
	if code := run(context.Background(), []string{"-control", da.control, "terminate", "b"}, &out, &errOut); code != 0 {
		t.Fatalf("terminate exited %d: %s", code, errOut.String())
	}
	waitFor(t, "both sides to drop the SAs", func() bool {
		sa, _ = da.show(t)
		sb, _ = db.show(t)
		return len(sa) == 0 && len(sb) == 0
	})
	out.Reset()
	if code := run(context.Background(), []string{"-control", da.control, "initiate", "b"}, &out, &errOut); code != 0 {
		t.Fatalf("initiate exited %d: %s", code, errOut.String())
	}
	// initiate waits for the handshake and says what came up.
	if want := "b: established IKE SA aes128gcm16-prfsha256-ecp256, CHILD_SA aes128gcm16-noesn\n"; out.String() != want {
		t.Errorf("initiate printed %q, want %q", out.String(), want)
	}
	waitFor(t, "the SAs again after initiate", func() bool {
		sb, _ = db.show(t)
		return len(sb) == 1 && sb[0].State == "established" && len(sb[0].Children) == 1
	})
}

// TestInitiateReportsFailure: initiate against a peer that accepts none
// of our IKE proposals prints the peer's answer and exits 1, and -timeout
// bounds the wait when nobody answers.
func TestInitiateReportsFailure(t *testing.T) {
	port, natt := freePorts(t)
	dir := t.TempDir()
	p := newHostPKI(t)
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	ctx, cancel := context.WithCancel(context.Background())
	db := startDaemon(t, ctx, dir, "b", p.hostConfig(t, "b", b, "a", a, "none"), b.String(), port, natt)
	cfgA := strings.Replace(p.hostConfig(t, "a", a, "b", b, "none"), "ike-proposal aes128gcm16-prfsha256-ecp256", "ike-proposal aes256-sha384-modp3072", 1)
	// Peer x is an address nobody answers on.
	cfgA += "set ipsec peer x address 127.0.0.3\nset ipsec peer x remote-id-pattern \"C=JP, O=Example, CN=*\"\nset ipsec peer x mode transport\nset ipsec peer x start-action none\n"
	da := startDaemon(t, ctx, dir, "a", cfgA, a.String(), port, natt)
	defer func() {
		cancel()
		for _, d := range []*daemonProc{da, db} {
			if code := <-d.done; code != 0 {
				t.Errorf("daemon exited %d:\n%s", code, d.stderr.String())
			}
		}
		if t.Failed() {
			t.Logf("a:\n%s\nb:\n%s", da.stderr.String(), db.stderr.String())
		}
	}()
	waitFor(t, "both control sockets", func() bool {
		_, err1 := da.show(t)
		_, err2 := db.show(t)
		return err1 == nil && err2 == nil
	})
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-control", da.control, "initiate", "b"}, &out, &errOut)
	if want := "b: failed: peer answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN\n"; code != 1 || out.String() != want {
		t.Errorf("initiate exited %d printing %q (stderr %q), want 1 and %q", code, out.String(), errOut.String(), want)
	}
	out.Reset()
	start := time.Now()
	code = run(context.Background(), []string{"-control", da.control, "-timeout", "1s", "initiate", "x"}, &out, &errOut)
	if want := "x: failed: no result in time; the handshake goes on (see show ipsec sa)\n"; code != 1 || out.String() != want {
		t.Errorf("initiate -timeout 1s exited %d printing %q, want 1 and %q", code, out.String(), want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("initiate -timeout 1s took %v", d)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.set")
	os.WriteFile(empty, []byte("set system hostname alix\n"), 0o600)
	bad := filepath.Join(dir, "bad.set")
	os.WriteFile(bad, []byte("set ipsec peer gw2 address 192.0.2.2\nset ipsec key nokey\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"no peers", []string{"-config", empty, "-kernel", "memory"}, exitDontRestart, "no ipsec peers"},
		{"missing key", []string{"-config", bad, "-kernel", "memory"}, 1, "bad.set: ipsec key nokey: no such entry in pki key"},
		{"no source", []string{"-kernel", "memory"}, 1, "exactly one of -config"},
		{"command without socket", []string{"show"}, 2, "needs -control"},
		{"unreachable socket", []string{"-control", filepath.Join(dir, "none.sock"), "show"}, 1, "not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(context.Background(), tt.args, &out, &errOut); got != tt.want || !strings.Contains(errOut.String(), tt.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", got, errOut.String(), tt.want, tt.msg)
			}
		})
	}
}

// TestLogLineStamps: run by hand, every line ikesvc logs carries one
// timestamp and one "ikesvc: "; under init (svclog.EnvVar set) neither,
// since init's ring adds both.
func TestLogLineStamps(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.set")
	os.WriteFile(bad, []byte("set ipsec peer gw2 address 192.0.2.2\nset ipsec key nokey\n"), 0o600)
	stamp := regexp.MustCompile(`\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`)
	for _, supervised := range []bool{false, true} {
		t.Run(fmt.Sprintf("supervised=%v", supervised), func(t *testing.T) {
			if supervised {
				t.Setenv(svclog.EnvVar, "1")
			}
			var errOut bytes.Buffer
			if code := run(context.Background(), []string{"-config", bad, "-kernel", "memory"}, &bytes.Buffer{}, &errOut); code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, errOut.String())
			}
			lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
			if len(lines) < 2 {
				t.Fatalf("want several error lines, got %q", lines)
			}
			for _, l := range lines {
				stamps, names := len(stamp.FindAllString(l, -1)), strings.Count(l, "ikesvc: ")
				want := 1
				if supervised {
					want = 0
				}
				if stamps != want || names != want || want == 1 && !strings.HasPrefix(l[len("2006/01/02 15:04:05 "):], "ikesvc: ") {
					t.Errorf("line %q: %d timestamps and %d \"ikesvc: \", want %d of each (time first)", l, stamps, names, want)
				}
			}
		})
	}
}
