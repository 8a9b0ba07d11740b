package interop

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// The suite of the charon<->charon tests (and of the ikesvc ones).
const (
	testIKEProposal = "aes128-sha256-x25519"
	testESPProposal = "aes128-sha256"
)

// TestCharonTunnel proves the harness: two charons in namespaces establish
// a certificate-authenticated, NAT-T encapsulated ESP tunnel through
// kernel-libipsec, checked on both sides, with a packet through it and a
// capture of the wire that tshark decodes without complaint.
func TestCharonTunnel(t *testing.T) {
	p := requireRoot(t)
	cases := []struct {
		name                 string
		initiator, responder string
		ipv6                 bool
	}{
		{"ecdsa-ipv4", HostMoon, HostSun, false},
		{"ecdsa-ipv6", HostMoon, HostSun, true},
		{"rsa-ipv4", HostMoonRSA, HostSunRSA, false},
		{"rsa-ipv6", HostMoonRSA, HostSunRSA, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			pair := newPair(t, "moon", "sun")
			la, ra := pair.A.Addr(c.ipv6).String(), pair.B.Addr(c.ipv6).String()
			iniID, respID := p.Hosts[c.initiator].ID, p.Hosts[c.responder].ID

			capture, err := StartCapture(ctx, pair.A, IKEFilter, filepath.Join(t.TempDir(), "ike.pcap"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = capture.Stop() })

			// The responder trusts only the root: it must take the
			// intermediate from the initiator's IKE_AUTH (charon sends it
			// because the responder's CERTREQ lacks it).
			resp := charonWith(t, p, pair.B, c.responder, []NamedPEM{p.Main.Root}, Conn{
				Name: "t", LocalAddr: ra, RemoteID: HostPattern, Revocation: "strict",
				Proposals: testIKEProposal, ESP: testESPProposal,
			})
			ini := charonWith(t, p, pair.A, c.initiator, p.CAs(), Conn{
				Name: "t", LocalAddr: la, RemoteAddr: ra, RemoteID: respID, Revocation: "strict",
				Proposals: testIKEProposal, ESP: testESPProposal,
			})
			if out, err := ini.Initiate(ctx, "t", 20*time.Second); err != nil {
				t.Fatalf("initiate: %v\n%s", err, out)
			}

			iniSAs, err := ini.ListSAs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			iIKE, iChild, err := CheckTunnel(iniSAs, Expect{la, ra, iniID, respID})
			if err != nil {
				t.Fatalf("initiator: %v%s", err, FormatSAs(iniSAs))
			}
			expResp := Expect{ra, la, respID, iniID}
			respSAs, err := resp.WaitSAs(ctx, 10*time.Second, func(s []IKESA) bool {
				_, _, err := CheckTunnel(s, expResp)
				return err == nil
			})
			if err != nil {
				t.Fatal(err)
			}
			rIKE, rChild, _ := CheckTunnel(respSAs, expResp)
			checkSameSA(t, iIKE, iChild, rIKE, rChild)
			if !iIKE.Initiator || rIKE.Initiator {
				t.Errorf("initiator flags: initiator side %v, responder side %v", iIKE.Initiator, rIKE.Initiator)
			}
			want := "AES_CBC/128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"
			if got := fmt.Sprintf("%s/%d/%s/%s/%s", iIKE.EncrAlg, iIKE.EncrKeysize, iIKE.IntegAlg, iIKE.PRFAlg, iIKE.DHGroup); got != want {
				t.Errorf("IKE suite %s, want %s", got, want)
			}
			if !resp.LogContains(`using untrusted intermediate certificate "` + "C=CH, O=alixsec interop, CN=Interop Intermediate CA") {
				t.Errorf("responder did not build the chain through the intermediate the initiator sent")
			}

			// One UDP datagram through the tunnel: ESP in userspace on
			// both ends, counted by the responder's CHILD_SA.
			if _, err := run(ctx, "ip", "netns", "exec", pair.A.NS, "bash", "-c",
				fmt.Sprintf("echo interop > /dev/udp/%s/9", ra)); err != nil {
				t.Fatal(err)
			}
			if _, err := resp.WaitSAs(ctx, 10*time.Second, func(s []IKESA) bool {
				_, ch, err := CheckTunnel(s, expResp)
				return err == nil && ch.PacketsIn >= 1
			}); err != nil {
				t.Fatalf("no ESP packet arrived through the tunnel: %v", err)
			}

			dec := checkCleanCapture(t, capture)
			if dec.Count("Encapsulating Security Payload") < 1 {
				t.Errorf("capture has no ESP-in-UDP packet:\n%s", dec.Text)
			}
		})
	}
}

// checkSameSA checks that both ends describe the same SAs: equal IKE SPIs,
// crossed ESP SPIs, the same algorithms.
func checkSameSA(t *testing.T, iIKE *IKESA, iChild *ChildSA, rIKE *IKESA, rChild *ChildSA) {
	t.Helper()
	if iIKE.InitiatorSPI != rIKE.InitiatorSPI || iIKE.ResponderSPI != rIKE.ResponderSPI {
		t.Errorf("IKE SPIs differ: %s/%s vs %s/%s", iIKE.InitiatorSPI, iIKE.ResponderSPI, rIKE.InitiatorSPI, rIKE.ResponderSPI)
	}
	if iChild.SPIIn != rChild.SPIOut || iChild.SPIOut != rChild.SPIIn {
		t.Errorf("ESP SPIs not crossed: in/out %s/%s vs %s/%s", iChild.SPIIn, iChild.SPIOut, rChild.SPIIn, rChild.SPIOut)
	}
	if iIKE.EncrAlg != rIKE.EncrAlg || iIKE.IntegAlg != rIKE.IntegAlg || iIKE.PRFAlg != rIKE.PRFAlg || iIKE.DHGroup != rIKE.DHGroup {
		t.Errorf("IKE algorithms differ between the ends")
	}
	if iChild.EncrAlg != rChild.EncrAlg || iChild.IntegAlg != rChild.IntegAlg || iChild.EncrKeysize != rChild.EncrKeysize {
		t.Errorf("ESP algorithms differ between the ends")
	}
}

// TestCharonRejects checks that a revoked certificate (strict CRL checking)
// and a certificate of an unknown CA are refused, whichever end presents
// it, and that neither end keeps an SA.
func TestCharonRejects(t *testing.T) {
	p := requireRoot(t)
	cases := []struct {
		name                 string
		initiator, responder string
		rejectedBy           string // "initiator" or "responder"
		rejectLog            string // in the rejecting charon's log
		otherLog             string // in the other charon's log
	}{
		{"revoked-initiator", HostRevoked, HostSun, "responder", "certificate was revoked", "received AUTHENTICATION_FAILED notify error"},
		{"unknown-ca-initiator", HostStranger, HostSun, "responder", "no trusted ECDSA public key found", "received AUTHENTICATION_FAILED notify error"},
		{"revoked-responder", HostMoon, HostRevoked, "initiator", "certificate was revoked", "parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]"},
		{"unknown-ca-responder", HostMoon, HostStranger, "initiator", "no trusted ECDSA public key found", "parsed INFORMATIONAL request 2 [ N(AUTH_FAILED) ]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			pair := newPair(t, "moon", "sun")
			la, ra := pair.A.IPv4.String(), pair.B.IPv4.String()
			resp := charonWith(t, p, pair.B, c.responder, p.CAs(), Conn{
				Name: "t", LocalAddr: ra, RemoteID: HostPattern, Revocation: "strict",
				Proposals: testIKEProposal, ESP: testESPProposal,
			})
			ini := charonWith(t, p, pair.A, c.initiator, p.CAs(), Conn{
				Name: "t", LocalAddr: la, RemoteAddr: ra, RemoteID: HostPattern, Revocation: "strict",
				Proposals: testIKEProposal, ESP: testESPProposal,
			})
			out, err := ini.Initiate(ctx, "t", 20*time.Second)
			if err == nil {
				t.Fatalf("initiate succeeded, want a refusal by the %s:\n%s", c.rejectedBy, out)
			}
			rejecter, other := resp, ini
			if c.rejectedBy == "initiator" {
				rejecter, other = ini, resp
			}
			for _, side := range []struct {
				ch   *Charon
				want string
			}{{rejecter, c.rejectLog}, {other, c.otherLog}} {
				noSA := func(s []IKESA) bool {
					for _, sa := range s {
						if sa.State == "ESTABLISHED" || len(sa.Children) > 0 {
							return false
						}
					}
					return side.ch.LogContains(side.want)
				}
				if _, err := side.ch.WaitSAs(ctx, 10*time.Second, noSA); err != nil {
					t.Errorf("%s: want no SA and %q in the log: %v", side.ch.Node.Name, side.want, err)
				}
			}
		})
	}
}
