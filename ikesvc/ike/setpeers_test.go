package ike

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// TestSetPeersLeavesOthersAlone: A talks to B and C. A commit that
// changes C restarts only C: B's SAs and policies stay in A's kernel
// untouched (no delete and re-add: every kernel set A applied meanwhile
// holds them, and their install time is unchanged), B's IKE SA keeps its
// SPIs, and B's own kernel sees no change at all. A commit that changes
// nothing of the peers changes nothing in any kernel.
func TestSetPeersLeavesOthersAlone(t *testing.T) {
	n, clock := newTestNet(), newFakeClock()
	ca := newTestPKI(t, "Example", "ecdsa")
	addr := map[string]netip.Addr{"a": netip.MustParseAddr("192.0.2.1"), "b": netip.MustParseAddr("192.0.2.2"), "c": netip.MustParseAddr("192.0.2.3")}
	eps := map[string]*endpoint{}
	for _, name := range []string{"a", "b", "c"} {
		cert, key := ca.issue(t, name+".example.net", "ecdsa", addr[name])
		eps[name] = newEndpointWith(t, n, clock, name, addr[name], cert, key, ca.inter, ca.trust(t))
	}
	peerCfg := func(name string, start StartAction) PeerConfig {
		return PeerConfig{Name: name, Remote: addr[name], RemoteID: matcher(t, "C=JP, O=Example, CN=*"), Mode: kernel.ModeTunnel,
			LocalTS: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")},
			IKE: mustProposals(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-ecp256"), ESP: mustProposals(t, wire.ProtocolESP, "aes128gcm16"),
			StartAction: start}
	}
	respond := func(name string) PeerConfig {
		pc := peerCfg("a", StartNone)
		pc.LocalTS, pc.RemoteTS = pc.RemoteTS, pc.LocalTS
		if name == "c" {
			pc.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16")}
		}
		return pc
	}
	for _, name := range []string{"b", "c"} {
		if _, err := eps[name].engine.SetPeers([]PeerConfig{respond(name)}); err != nil {
			t.Fatal(err)
		}
	}
	pb, pc := peerCfg("b", StartStart), peerCfg("c", StartStart)
	pc.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16")}
	if _, err := eps["a"].engine.SetPeers([]PeerConfig{pb, pc}); err != nil {
		t.Fatal(err)
	}
	n.run(t)
	a := eps["a"]
	if st := a.engine.Status(context.Background()); len(st) != 2 || len(st[0].Children) != 1 || len(st[1].Children) != 1 {
		t.Fatalf("a: %+v, want one IKE SA and CHILD_SA with each of b and c", st)
	}

	// B's entries in A's kernel: its SAs (by address) and policies (by reqid).
	bSAs := map[kernel.SAID]time.Time{}
	var bReqid uint32
	for _, sa := range a.kernelSet(t).SAs {
		if sa.Src == addr["b"] || sa.Dst == addr["b"] {
			c, err := a.kern.Counters(context.Background(), sa.ID())
			if err != nil {
				t.Fatal(err)
			}
			bSAs[sa.ID()], bReqid = c.Added, sa.Reqid
		}
	}
	var bPolicies []kernel.PolicyID
	for _, p := range a.kernelSet(t).Policies {
		if p.Template != nil && p.Template.Reqid == bReqid {
			bPolicies = append(bPolicies, p.ID())
		}
	}
	if len(bSAs) != 2 || len(bPolicies) != 3 {
		t.Fatalf("b's entries in a's kernel: %d SAs, %d policies; want 2, 3", len(bSAs), len(bPolicies))
	}
	spisOf := func(ep *endpoint, peer string) string {
		for _, st := range ep.engine.Status(context.Background()) {
			if st.Peer == peer {
				return st.SPIi + st.SPIr
			}
		}
		return ""
	}
	bSPIs, cSPIs := spisOf(a, "b"), spisOf(a, "c")

	for _, step := range []struct {
		name      string
		c         PeerConfig
		changed   []string
		cRestarts bool
	}{
		{"nothing changed (another setting was committed)", pc, nil, false},
		{"c's timers changed", func() PeerConfig {
			x := pc
			x.DPDInterval, x.RekeyTime, x.ReauthTime, x.DPDAction = 30*time.Second, 20*time.Minute, time.Hour, DPDRestart
			return x
		}(), []string{"c"}, false},
		{"c's proposals changed", func() PeerConfig {
			x := pc
			x.ESP = mustProposals(t, wire.ProtocolESP, "aes256gcm16,aes128gcm16")
			return x
		}(), []string{"c"}, true},
	} {
		t.Run(step.name, func(t *testing.T) {
			clock.Advance(time.Second) // a re-added SA would get a new install time
			for _, ep := range eps {
				ep.kern.mu.Lock()
				ep.kern.applied, ep.kern.changes = nil, nil
				ep.kern.mu.Unlock()
			}
			changed, err := a.engine.SetPeers([]PeerConfig{pb, step.c})
			if err != nil {
				t.Fatal(err)
			}
			n.run(t)
			if !slices.Equal(changed, step.changed) {
				t.Errorf("SetPeers changed %v, want %v", changed, step.changed)
			}
			for i, set := range a.kern.applied {
				for id := range bSAs {
					if !slices.ContainsFunc(set.SAs, func(sa kernel.SA) bool { return sa.ID() == id }) {
						t.Errorf("a's kernel set %d lacks b's SA %08x", i, id.SPI)
					}
				}
				for _, id := range bPolicies {
					if !slices.ContainsFunc(set.Policies, func(p kernel.Policy) bool { return p.ID() == id }) {
						t.Errorf("a's kernel set %d lacks b's policy %v", i, id)
					}
				}
			}
			for id, added := range bSAs {
				c, err := a.kern.Counters(context.Background(), id)
				if err != nil || !c.Added.Equal(added) {
					t.Errorf("b's SA %08x in a's kernel: installed %v (err %v), was %v: re-added", id.SPI, c.Added, err, added)
				}
			}
			if got := spisOf(a, "b"); got != bSPIs {
				t.Errorf("a's IKE SA with b changed: %s -> %s", bSPIs, got)
			}
			for _, ch := range eps["b"].kern.changes {
				if ch != (kernel.Changes{}) {
					t.Errorf("b's kernel changed: %+v", ch)
				}
			}
			if got := spisOf(a, "c"); (got != cSPIs) != step.cRestarts || got == "" {
				t.Errorf("a's IKE SA with c: %s -> %s, restarted want %v", cSPIs, got, step.cRestarts)
			}
			if !step.cRestarts {
				for _, ep := range eps {
					for _, ch := range ep.kern.changes {
						if ch != (kernel.Changes{}) {
							t.Errorf("%s's kernel changed: %+v", ep.name, ch)
						}
					}
				}
			}
			cSPIs = spisOf(a, "c")
		})
	}
}

// TestRetuneKeepsSAs: a commit that turns DPD on for a peer keeps its SAs
// and DPD runs from then on (a dead peer is found).
func TestRetuneKeepsSAs(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	before := p.a.only(t)
	pa := p.pa
	pa.DPDInterval, pa.DPDAction = 10*time.Second, DPDTrap
	changed, err := p.a.engine.SetPeers([]PeerConfig{pa})
	if err != nil || !slices.Equal(changed, []string{"b"}) {
		t.Fatalf("SetPeers: %v, %v; want [b]", changed, err)
	}
	p.net.run(t)
	if after := p.a.only(t); after.SPIi != before.SPIi || after.Children[0].InSPI != before.Children[0].InSPI {
		t.Fatalf("SAs replaced by a timer change: %+v -> %+v", before, after)
	}
	p.net.drop = func(datagram) bool { return true }
	p.advance(t, 10*time.Second+RetransmitTimeout<<(RetransmitTries+1))
	if n := p.a.log.countLines(containing("the peer is dead (dpd-action trap)")); n != 1 {
		t.Errorf("a found the dead peer %d times, want once", n)
	}
}
