package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildIkesvcOnce builds ./ikesvc once per test binary: every ikesvc test
// needs the same binary, and a failed build is the same for all of them.
var buildIkesvcOnce = sync.OnceValues(func() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(testDir, "ikesvc")
	return bin, BuildIkesvc(ctx, root, bin)
})

// requireIkesvc returns the built ikesvc, or skips while ./ikesvc does not
// build or has no -config flag (it is being written). Once it builds, the
// tests run and fail like any other.
func requireIkesvc(t *testing.T) string {
	t.Helper()
	bin, err := buildIkesvcOnce()
	if err != nil {
		t.Skipf("ikesvc not built yet: %s", firstLine(err.Error()))
	}
	return bin
}

// shortDir makes a short directory for unix sockets (t.TempDir paths can
// pass the 107-byte limit), removed when t ends.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ix")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startIkesvc runs ikesvc on node with config, stopped when t ends; its log
// goes to the test output on failure.
func startIkesvc(t *testing.T, bin string, node *Node, config string, args ...string) *Ikesvc {
	t.Helper()
	s, err := StartIkesvcArgs(testContext(t), bin, node, t.TempDir(), shortDir(t), config, append([]string{"-kernel", "memory"}, args...)...)
	if s != nil {
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Errorf("stop ikesvc: %v", err)
			}
			if t.Failed() {
				t.Logf("ikesvc config:\n%s\nikesvc log:\n%s", config, s.Log())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestIkesvcCharon: ikesvc (node A, memory kernel) against charon (node B,
// kernel-libipsec, so NAT-T on UDP 4500), as initiator and as responder,
// ECDSA and RSA certificates through the intermediate, IPv4 and IPv6. Charon
// trusts only the root: ikesvc must send its intermediate. Checked with
// charon's --list-sas --raw, ikesvc's show, and tshark on ikesvc's link.
func TestIkesvcCharon(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	cases := []struct {
		name                   string
		ikesvcInitiates        bool
		ikesvcHost, charonHost string
		ipv6                   bool
	}{
		{"initiator-ecdsa-ipv4", true, HostMoon, HostSun, false},
		{"initiator-ecdsa-ipv6", true, HostMoon, HostSun, true},
		{"initiator-rsa-ipv4", true, HostMoonRSA, HostSunRSA, false},
		{"initiator-rsa-ipv6", true, HostMoonRSA, HostSunRSA, true},
		{"responder-ecdsa-ipv4", false, HostMoon, HostSun, false},
		{"responder-ecdsa-ipv6", false, HostMoon, HostSun, true},
		{"responder-rsa-ipv4", false, HostMoonRSA, HostSunRSA, false},
		{"responder-rsa-ipv6", false, HostMoonRSA, HostSunRSA, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			pair := newPair(t, "ikesvc", "charon")
			ia, ca := pair.A.Addr(c.ipv6), pair.B.Addr(c.ipv6)
			ikesvcID, charonID := p.Hosts[c.ikesvcHost].ID, p.Hosts[c.charonHost].ID
			capture, err := StartCapture(ctx, pair.A, IKEFilter, filepath.Join(t.TempDir(), "ike.pcap"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = capture.Stop() })

			conn := Conn{Name: "t", LocalAddr: ca.String(), RemoteID: ikesvcID, Revocation: "strict",
				Proposals: testIKEProposal, ESP: testESPProposal}
			if !c.ikesvcInitiates {
				conn.RemoteAddr = ia.String()
			}
			ch := charonWith(t, p, pair.B, c.charonHost, []NamedPEM{p.Main.Root}, conn)
			cfg, err := IkesvcConfig(p.Hosts[c.ikesvcHost], IkesvcPeer{
				Name: "charon", Local: ia, Remote: ca, Initiate: c.ikesvcInitiates,
				RemoteID: charonID, CRLStrict: true,
				IKEProposal: testIKEProposal, ESPProposal: testESPProposal,
			})
			if err != nil {
				t.Fatal(err)
			}
			ike := startIkesvc(t, bin, pair.A, cfg)
			if !c.ikesvcInitiates {
				if out, err := ch.Initiate(ctx, "t", 20*time.Second); err != nil {
					t.Fatalf("charon initiate: %v\n%s", err, out)
				}
			}
			exp := Expect{ca.String(), ia.String(), charonID, ikesvcID}
			sas, err := ch.WaitSAs(ctx, 30*time.Second, func(s []IKESA) bool {
				_, _, err := CheckTunnel(s, exp)
				return err == nil
			})
			if err != nil {
				t.Fatal(err)
			}
			sa, child, _ := CheckTunnel(sas, exp)
			if sa.Initiator == c.ikesvcInitiates {
				t.Errorf("charon initiator=%v, want %v", sa.Initiator, !c.ikesvcInitiates)
			}
			if err := ike.WaitShow(ctx, 10*time.Second, func(show string) error {
				return ShowHasSA(show, child, charonID)
			}); err != nil {
				t.Error(err)
			}
			checkCleanCapture(t, capture)
		})
	}
}

// TestIkesvcRejects: a revoked certificate (crl-mode strict) and one from
// an unknown CA are refused by ikesvc whichever role it has, and neither
// side keeps an SA. When ikesvc, as initiator, refuses charon, it must tell
// charon (INFORMATIONAL with AUTHENTICATION_FAILED, as charon itself does)
// so charon drops the SA it had already set up.
func TestIkesvcRejects(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	cases := []struct {
		name            string
		ikesvcInitiates bool
		charonHost      string
	}{
		{"revoked-charon-initiator", false, HostRevoked},
		{"revoked-charon-responder", true, HostRevoked},
		{"unknown-ca-charon-initiator", false, HostStranger},
		{"unknown-ca-charon-responder", true, HostStranger},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			pair := newPair(t, "ikesvc", "charon")
			ia, ca := pair.A.IPv4, pair.B.IPv4
			ikesvcID := p.Hosts[HostMoon].ID
			conn := Conn{Name: "t", LocalAddr: ca.String(), RemoteID: ikesvcID,
				Proposals: testIKEProposal, ESP: testESPProposal}
			if !c.ikesvcInitiates {
				conn.RemoteAddr = ia.String()
			}
			ch := charonWith(t, p, pair.B, c.charonHost, p.CAs(), conn)
			cfg, err := IkesvcConfig(p.Hosts[HostMoon], IkesvcPeer{
				Name: "charon", Local: ia, Remote: ca, Initiate: c.ikesvcInitiates,
				RemotePattern: HostPattern, CRLStrict: true,
				IKEProposal: testIKEProposal, ESPProposal: testESPProposal,
			})
			if err != nil {
				t.Fatal(err)
			}
			ike := startIkesvc(t, bin, pair.A, cfg)
			charonEvidence := "parsed INFORMATIONAL request"
			if !c.ikesvcInitiates {
				out, err := ch.Initiate(ctx, "t", 20*time.Second)
				if err == nil {
					t.Fatalf("charon's initiate succeeded, want ikesvc to refuse it:\n%s", out)
				}
				charonEvidence = "received AUTHENTICATION_FAILED notify error"
			}
			// Give a wrongly accepting ikesvc time to show itself before
			// checking that nothing is established.
			if _, err := ch.WaitSAs(ctx, 15*time.Second, func(s []IKESA) bool {
				for _, sa := range s {
					if sa.State == "ESTABLISHED" {
						return false
					}
				}
				return ch.LogContains(charonEvidence)
			}); err != nil {
				if c.ikesvcInitiates {
					t.Errorf("ikesvc as initiator must tell charon that it refused charon's certificate "+
						"(INFORMATIONAL with AUTHENTICATION_FAILED, RFC 7296 2.21.2, as charon does) so charon "+
						"drops the SA it set up; want no SA and %q in charon's log: %v", charonEvidence, err)
				} else {
					t.Errorf("charon: want no SA and %q in its log: %v", charonEvidence, err)
				}
			}
			if err := ike.WaitShow(ctx, 5*time.Second, ShowHasNoSA); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkCleanCapture stops the capture and fails on any malformed packet or
// expert error in tshark's decode, or when the IKE exchanges are missing.
func checkCleanCapture(t *testing.T, c *Capture) *Decoded {
	t.Helper()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	dec, err := Decode(testContext(t), c.File)
	if err != nil {
		t.Fatal(err)
	}
	if bad := dec.Problems(); len(bad) > 0 {
		t.Errorf("tshark flags %d lines:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	for _, s := range []string{"Exchange type: IKE_SA_INIT (34)", "Exchange type: IKE_AUTH (35)"} {
		if n := dec.Count(s); n < 2 {
			t.Errorf("capture has %d %q, want request and response", n, s)
		}
	}
	if t.Failed() {
		t.Logf("capture summary:\n%s", summary(dec))
	}
	return dec
}

// summary keeps the lines of a decode that tell the story: frames,
// addresses, ports, exchanges and notifications.
func summary(d *Decoded) string {
	var b strings.Builder
	for _, l := range strings.Split(d.Text, "\n") {
		for _, k := range []string{"Frame ", "Internet Protocol", "User Datagram", "Exchange type", "Notify Message Type", "Malformed", "Expert Info"} {
			if strings.Contains(l, k) {
				fmt.Fprintln(&b, l)
				break
			}
		}
	}
	return b.String()
}
