package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/ike"
)

// TestCharonReboots: the peer reboots. Charon is SIGKILLed (no Delete, no
// state kept, no kernel SAs with kernel-libipsec) and started afresh with
// the same configuration, while ikesvc keeps its SAs for the charon that
// is gone. ikesvc must notice and hold exactly one IKE SA and CHILD_SA
// again, those of the new charon, within:
//   - dpd-interval, the probe's wait and one handshake when charon only
//     responds: charon drops ikesvc's liveness check for the IKE SA it
//     lost without a word, so ikesvc (dpd-action restart) probes with a
//     fresh IKE SA after two retransmissions, and drops the old one when
//     that comes up. Without the probe it took 36.5 s: the liveness
//     check's 31 s of retransmissions, then the handshake;
//   - one handshake when charon initiates again: its IKE_AUTH carries
//     INITIAL_CONTACT and ikesvc drops the stale SAs at once, long before
//     a DPD (off here) could.
func TestCharonReboots(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	// probeWait: ikesvc probes after the ProbeAfterTries-th retransmission.
	probeWait := ike.RetransmitTimeout * (1<<ike.ProbeAfterTries - 1)
	const (
		dpdInterval = 5 * time.Second // the configuration's minimum
		// handshake bounds charon's start (vici ready, config loaded) and
		// one IKE_SA_INIT + IKE_AUTH between namespaces, with room for a
		// busy CI machine.
		handshake = 3 * time.Second
	)
	cases := []struct {
		name            string
		ikesvcInitiates bool
		within          time.Duration
		ikesvcLog       string // a line ikesvc must log
	}{
		{"charon responds, ikesvc dpd-action restart", true, dpdInterval + probeWait + handshake, "the peer lost it, rebooted?"},
		{"charon initiates again, INITIAL_CONTACT", false, handshake, "INITIAL_CONTACT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pair := newPair(t, "ikesvc", "charon")
			ia, ca := pair.A.Addr(false), pair.B.Addr(false)
			ikesvcID, charonID := p.Hosts[HostMoon].ID, p.Hosts[HostSun].ID
			h := p.Hosts[HostSun]
			conn := Conn{Name: "t", LocalAddr: ca.String(), RemoteID: ikesvcID, Revocation: "strict",
				Proposals: testIKEProposal, ESP: testESPProposal, LocalCert: h.Name + ".crt", LocalID: h.ID}
			if !c.ikesvcInitiates {
				conn.RemoteAddr = ia.String()
			}
			dir := filepath.Join(t.TempDir(), pair.B.Name)
			// boot starts a charon in dir (the certificates stay there from
			// the first boot, as on a disk) and loads conn.
			boot := func() *Charon {
				t.Helper()
				ch, err := StartCharon(ctx, pair.B, dir)
				if ch != nil {
					t.Cleanup(func() {
						if err := ch.Stop(); err != nil {
							t.Errorf("stop charon: %v", err)
						}
						if t.Failed() {
							t.Logf("charon log:\n%s", withoutViciChatter(ch.Log()))
						}
					})
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := ch.Install(h, []NamedPEM{p.Main.Root}, p.Main.CRLs); err != nil {
					t.Fatal(err)
				}
				if err := ch.Configure(ctx, conn); err != nil {
					t.Fatal(err)
				}
				if !c.ikesvcInitiates {
					if out, err := ch.Initiate(ctx, "t", 20*time.Second); err != nil {
						t.Fatalf("charon initiate: %v\n%s", err, out)
					}
				}
				return ch
			}
			cfg, err := IkesvcConfig(p.Hosts[HostMoon], IkesvcPeer{
				Name: "charon", Local: ia, Remote: ca, Initiate: c.ikesvcInitiates, RemoteID: charonID, CRLStrict: true,
				IKEProposal: testIKEProposal, ESPProposal: testESPProposal,
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.ikesvcInitiates {
				cfg += fmt.Sprintf("set ipsec peer charon dpd-interval %d\nset ipsec peer charon dpd-action restart\n", int(dpdInterval.Seconds()))
			}
			ike := startIkesvc(t, bin, pair.A, cfg, "-v")
			ch := boot()
			exp := Expect{ca.String(), ia.String(), charonID, ikesvcID}

			onePair := func(what string, timeout time.Duration) (*IKESA, *ChildSA) {
				t.Helper()
				sa, child, err := waitOnePair(ctx, ch, ike, exp, timeout, 0, nil)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				return sa, child
			}
			sa0, child0 := onePair("established", 30*time.Second)

			if err := ch.Kill(); err != nil {
				t.Fatal(err)
			}
			rebooted := time.Now()
			ch = boot()
			sa, child := onePair("after charon's reboot", c.within)
			took := time.Since(rebooted)
			if sa.InitiatorSPI == sa0.InitiatorSPI || child.SPIIn == child0.SPIIn {
				t.Errorf("after the reboot the old SAs are listed: IKE %s, CHILD_SA %s", sa.InitiatorSPI, child.SPIIn)
			}
			if !strings.Contains(ike.Log(), c.ikesvcLog) {
				t.Errorf("ikesvc did not log %q:\n%s", c.ikesvcLog, ike.Log())
			}
			t.Logf("%s: one IKE SA and CHILD_SA again %.2f s after charon was killed (bound %v)", c.name, took.Seconds(), c.within)
		})
	}
}
