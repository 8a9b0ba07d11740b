package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIkesvcCharonRekeys: make-before-break against a real peer. ikesvc
// (memory kernel) initiates to charon (kernel-libipsec, make_before_break
// on); charon rekeys the CHILD_SA, rekeys the IKE_SA and reauthenticates
// (swanctl --rekey), then ikesvc rekeys the CHILD_SA on its own timer
// (rekey-time 60, the configuration's minimum). After each step both
// sides hold exactly one IKE SA with one CHILD_SA, with the same new
// SPIs, and ikesvc logged no failure.
func TestIkesvcCharonRekeys(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pair := newPair(t, "ikesvc", "charon")
	ia, ca := pair.A.Addr(false), pair.B.Addr(false)
	ikesvcID, charonID := p.Hosts[HostMoon].ID, p.Hosts[HostSun].ID

	ch, err := StartCharonWith(ctx, pair.B, filepath.Join(t.TempDir(), pair.B.Name), CharonOptions{MakeBeforeBreak: true})
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
	h := p.Hosts[HostSun]
	if err := ch.Install(h, []NamedPEM{p.Main.Root}, p.Main.CRLs); err != nil {
		t.Fatal(err)
	}
	if err := ch.Configure(ctx, Conn{Name: "t", LocalAddr: ca.String(), RemoteID: ikesvcID, Revocation: "strict",
		Proposals: testIKEProposal, ESP: testESPProposal, LocalCert: h.Name + ".crt", LocalID: h.ID}); err != nil {
		t.Fatal(err)
	}
	cfg, err := IkesvcConfig(p.Hosts[HostMoon], IkesvcPeer{
		Name: "charon", Local: ia, Remote: ca, Initiate: true, RemoteID: charonID, CRLStrict: true,
		IKEProposal: testIKEProposal, ESPProposal: testESPProposal,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg += "set ipsec peer charon rekey-time 60\n"
	ike := startIkesvc(t, bin, pair.A, cfg)
	exp := Expect{ca.String(), ia.String(), charonID, ikesvcID}

	// settled waits until charon and ikesvc hold one IKE SA with one
	// CHILD_SA that passes changed, and returns charon's view.
	settled := func(what string, timeout time.Duration, changed func(sa *IKESA, c *ChildSA) bool) (*IKESA, *ChildSA) {
		t.Helper()
		sa, c, err := waitOnePair(ctx, ch, ike, exp, timeout, 10*time.Second, changed)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return sa, c
	}
	sa0, c0 := settled("established", 30*time.Second, func(*IKESA, *ChildSA) bool { return true })

	steps := []struct {
		name     string
		swanctl  []string
		newChild bool // the CHILD_SA's SPIs change
		newIKE   bool // the IKE_SA's SPIs change
	}{
		{"charon rekeys the CHILD_SA", []string{"--rekey", "--child", "t"}, true, false},
		{"charon rekeys the IKE_SA", []string{"--rekey", "--ike", "t"}, false, true},
		{"charon reauthenticates", []string{"--rekey", "--ike", "t", "--reauth"}, true, true},
		{"ikesvc rekeys the CHILD_SA (rekey-time 60)", nil, true, false},
	}
	for _, s := range steps {
		timeout := 20 * time.Second
		if s.swanctl != nil {
			if out, err := ch.Swanctl(ctx, s.swanctl...); err != nil {
				t.Fatalf("%s: swanctl %v: %v\n%s", s.name, s.swanctl, err, out)
			}
		} else {
			timeout = 80 * time.Second // 66 s: ikesvc answered the exchange that made it
		}
		sa, c := settled(s.name, timeout, func(sa *IKESA, c *ChildSA) bool {
			return (c.SPIIn != c0.SPIIn) == s.newChild && (sa.InitiatorSPI != sa0.InitiatorSPI) == s.newIKE
		})
		t.Logf("%s: IKE_SA %s_i %s_r, CHILD_SA %s_i %s_o", s.name, sa.InitiatorSPI, sa.ResponderSPI, c.SPIIn, c.SPIOut)
		sa0, c0 = sa, c
	}
	for _, bad := range []string{"failed", "ERROR", "refused"} {
		if strings.Contains(ike.Log(), bad) {
			t.Errorf("ikesvc logged %q:\n%s", bad, ike.Log())
			break
		}
	}
}

// waitOnePair waits (at most timeout) until charon has exactly one IKE_SA,
// with one CHILD_SA, that passes ok (nil: any), and then (at most
// showWait more; 0: only what is left of timeout) until ikesvc shows that
// one, with the same SPIs, and nothing else. exp is charon's view, as for
// CheckTunnel. It returns charon's view.
func waitOnePair(ctx context.Context, ch *Charon, ike *Ikesvc, exp Expect, timeout, showWait time.Duration, ok func(*IKESA, *ChildSA) bool) (*IKESA, *ChildSA, error) {
	deadline := time.Now().Add(timeout)
	sas, err := ch.WaitSAs(ctx, timeout, func(s []IKESA) bool {
		if len(s) != 1 || len(s[0].Children) != 1 {
			return false
		}
		sa, c, err := CheckTunnel(s, exp)
		return err == nil && (ok == nil || ok(sa, c))
	})
	if err != nil {
		return nil, nil, err
	}
	sa, c, _ := CheckTunnel(sas, exp)
	if showWait == 0 {
		showWait = time.Until(deadline) + 100*time.Millisecond
	}
	err = ike.WaitShow(ctx, showWait, func(show string) error {
		if err := ShowHasSA(show, c, exp.LocalID); err != nil { // charon's identity
			return err
		}
		low := strings.ToLower(show)
		if !strings.Contains(low, strings.ToLower(sa.InitiatorSPI)) || !strings.Contains(low, strings.ToLower(sa.ResponderSPI)) {
			return fmt.Errorf("ikesvc show lacks IKE SPIs %s/%s:\n%s", sa.InitiatorSPI, sa.ResponderSPI, show)
		}
		if n, m := strings.Count(show, ": IKE SA "), strings.Count(show, "CHILD_SA "); n != 1 || m != 1 {
			return fmt.Errorf("ikesvc shows %d IKE SAs and %d CHILD_SAs, want 1 each:\n%s", n, m, show)
		}
		return nil
	})
	return sa, c, err
}
