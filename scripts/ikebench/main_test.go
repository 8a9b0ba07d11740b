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
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/scripts/interop"
)

func TestParseInsnCount(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       insnCount
		wantErr    bool
	}{
		{"all", "total 100\ngated 40\nopened 6\n", insnCount{100, 40, 6}, false},
		{"unknown lines ignored", "x y z\ntotal 1\nfoo 3\ngated 0\nopened 0\n", insnCount{1, 0, 0}, false},
		{"missing gated", "total 100\nopened 1\n", insnCount{}, true},
		{"bad number", "total 1x\ngated 0\nopened 0\n", insnCount{}, true},
		{"empty", "", insnCount{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseInsnCount(tc.text)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPrintTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows []row
		want string
	}{
		{"none", nil, ""},
		{"aligned", []row{{"a", "1.0", ">= 2"}, {"longer measure", "12345", ""}},
			"measure        | value | goal\n" +
				"---------------|-------|-----\n" +
				"a              | 1.0   | >= 2\n" +
				"longer measure | 12345 | \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printTable(&b, tc.rows)
			if b.String() != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}

func TestLoadResultRate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    loadResult
		want float64
	}{
		{"one second", loadResult{Done: 250, Elapsed: time.Second}, 250},
		{"half second", loadResult{Done: 100, Elapsed: 500 * time.Millisecond}, 200},
		{"nothing measured", loadResult{Done: 5}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Rate(); got != tc.want {
				t.Fatalf("Rate() = %v, want %v", got, tc.want)
			}
		})
	}
}

// writeTestCreds writes a root, an intermediate and moon and sun ECDSA
// P-256 leaves (named like the interop PKI's, so interop.HostPattern
// admits them) in writeCredDir's layout.
func writeTestCreds(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	serial := int64(1)
	issue := func(cn string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{Country: []string{"CH"}, Organization: []string{"alixsec interop"}, CommonName: cn},
			NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
		}
		if ca {
			tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key
	}
	write := func(name string, cert *x509.Certificate, key *ecdsa.PrivateKey) {
		if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		if key == nil {
			return
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	root, rootKey := issue("Test Root", true, nil, nil)
	inter, interKey := issue("Test Intermediate", true, root, rootKey)
	write(strings.TrimSuffix(rootFile, ".crt"), root, nil)
	write(strings.TrimSuffix(interFile, ".crt"), inter, nil)
	for _, h := range []string{initiatorName, responderName} {
		cert, key := issue(h, false, inter, interKey)
		write(h, cert, key)
	}
	return dir
}

func TestLoadHost(t *testing.T) {
	dir := writeTestCreds(t)
	for _, tc := range []struct {
		name, host string
		wantErr    bool
	}{
		{"moon", initiatorName, false},
		{"sun", responderName, false},
		{"unknown host", "pluto", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := loadHost(dir, tc.host)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !strings.HasSuffix(h.id, "CN="+tc.host) || len(h.creds.Intermediates) != 1 {
				t.Fatalf("id %q, %d intermediates", h.id, len(h.creds.Intermediates))
			}
			if _, err := h.trust.Verify(h.creds.Cert, h.creds.Intermediates, time.Now()); err != nil {
				t.Fatalf("own chain does not verify: %v", err)
			}
		})
	}
}

// TestRunPair runs the instruction-count program natively: both engines
// in process, each handshake must establish and be deleted again.
func TestRunPair(t *testing.T) {
	dir := writeTestCreds(t)
	for _, tc := range []struct {
		name      string
		ike       string
		warmup, k int
		wantErr   bool
	}{
		{"bench suite", benchIKE, 1, 2, false},
		{"baseline only", benchIKE, 1, 0, false},
		{"bad proposal", "aes128-nonsense", 0, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runPair(dir, tc.ike, benchESP, tc.warmup, tc.k)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// TestRunLoadLoopback drives a responder engine on loopback with the load
// generator (real UDP, port 500, so root only).
func TestRunLoadLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("binds UDP port 500: root only")
	}
	dir := writeTestCreds(t)
	sun, err := loadHost(dir, responderName)
	if err != nil {
		t.Fatal(err)
	}
	target := netip.MustParseAddr("127.77.0.2")
	udp, err := listenPair(target, 500, 4500)
	if err != nil {
		t.Skipf("no loopback socket for the responder: %v", err)
	}
	defer udp.Close()
	mem, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ike.New(ike.Config{Transport: udp, Kernel: mem, Trust: sun.trust, Creds: sun.creds,
		LocalAddr: func(netip.Addr) (netip.Addr, error) { return target, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	go udp.serve(resp.HandlePacket)
	rp, err := initiatorPeer(netip.Addr{}, interop.HostPattern, benchIKE, benchESP)
	if err != nil {
		t.Fatal(err)
	}
	rp.Name = "load"
	if rp.RemoteID, err = pki.ParsePeerMatcher(interop.HostPattern); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.SetPeers([]ike.PeerConfig{rp}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		locals    []string
		n, warmup int
	}{
		{"one initiator", []string{"127.77.0.11"}, 5, 1},
		{"three initiators", []string{"127.77.0.11", "127.77.0.12", "127.77.0.13"}, 12, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var locals []netip.Addr
			for _, s := range tc.locals {
				locals = append(locals, netip.MustParseAddr(s))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := runLoad(ctx, loadSpec{target: target, locals: locals, n: tc.n, warmup: tc.warmup,
				credDir: dir, ike: benchIKE, esp: benchESP})
			if err != nil {
				t.Fatal(err)
			}
			if res.Done != tc.n || res.Failed != 0 || res.Rate() <= 0 {
				t.Fatalf("result %+v, want %d done, none failed", res, tc.n)
			}
		})
	}
}

// TestInsnPluginCompiles checks that the embedded qemu plugin builds with
// the host's C compiler, as countInstructions builds it.
func TestInsnPluginCompiles(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	if err := os.WriteFile(src, []byte(insnPluginSource), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc, "-shared", "-fPIC", "-Wall", "-Werror", "-Wno-unused-parameter", "-o", filepath.Join(dir, "p.so"), src).CombinedOutput()
	if err != nil {
		t.Fatalf("plugin does not compile: %v\n%s", err, out)
	}
	for _, sym := range []string{"qemu_plugin_install", "qemu_plugin_version"} {
		if !strings.Contains(insnPluginSource, sym) {
			t.Errorf("plugin lacks %s", sym)
		}
	}
}

// TestCountInstructions builds the 386 softfloat program and counts one
// handshake under qemu-i386 with the plugin: the gate must open and the
// responder's share must be a real part of the pair's instructions.
func TestCountInstructions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 386 binary and runs it under qemu")
	}
	for _, tool := range []string{"qemu-i386", "cc", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	root, err := interop.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tools, err := prepareInsnTools(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := countInstructions(ctx, insnSpec{tools: tools, credDir: writeTestCreds(t),
		ike: benchIKE, esp: benchESP, warmup: 1, k: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Per handshake the responder gets IKE_SA_INIT, IKE_AUTH (one or more
	// fragments) and the Delete.
	if res.Count.Opened < 3 || res.Count.Opened > 8 {
		t.Errorf("gate opened %d times for one handshake, want 3 to 8", res.Count.Opened)
	}
	if res.PerResponder < 1e6 || res.PerResponder >= res.PerPair {
		t.Errorf("responder %.0f instructions of the pair's %.0f: implausible", res.PerResponder, res.PerPair)
	}
}
