package ike

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// natRewrite puts A behind a NAT: A's datagrams reach B from natAddr with
// the source port moved by +40000, and B's answers to natAddr go back to A.
func natRewrite(p *pair, natAddr netip.Addr) {
	p.net.rewrite = func(d datagram) datagram {
		switch {
		case d.from.Addr() == p.a.addr:
			d.from = netip.AddrPortFrom(natAddr, d.from.Port()+40000)
		case d.to.Addr() == natAddr:
			d.to = netip.AddrPortFrom(p.a.addr, d.to.Port()-40000)
		}
		return d
	}
}

func TestNATTraversal(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	nat := netip.MustParseAddr("198.51.100.1")
	// B knows A by its public (NAT) address.
	p.pb.Remote = nat
	natRewrite(p, nat)
	p.start(t)
	sa, sb := p.a.only(t), p.b.only(t)
	if sa.State != "established" || sb.State != "established" {
		t.Fatalf("states %s / %s", sa.State, sb.State)
	}
	if sa.NAT != "local" || sb.NAT != "remote" {
		t.Errorf("NAT seen as %q by a and %q by b, want local and remote", sa.NAT, sb.NAT)
	}
	if sa.Remote != "192.0.2.2:4500" || sb.Remote != "198.51.100.1:44500" {
		t.Errorf("after floating: a talks to %s, b to %s", sa.Remote, sb.Remote)
	}
	for _, ep := range []*endpoint{p.a, p.b} {
		ks := ep.kernelSet(t)
		if len(ks.SAs) != 2 {
			t.Fatalf("%s: %d SAs", ep.name, len(ks.SAs))
		}
		for _, s := range ks.SAs {
			if s.Encap == nil {
				t.Fatalf("%s: SA %08x without UDP encapsulation", ep.name, s.SPI)
			}
		}
	}
	out := p.a.kernelSet(t).SAs
	for _, s := range out {
		if s.Src == p.a.addr && (*s.Encap != kernel.UDPEncap{SrcPort: 4500, DstPort: 4500}) {
			t.Errorf("a's outbound encap %+v, want 4500->4500", *s.Encap)
		}
	}
}

func TestTrapStartsNegotiation(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTunnel})
	p.pa.StartAction = StartTrap
	p.pa.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	p.pa.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}
	p.pb.LocalTS, p.pb.RemoteTS = p.pa.RemoteTS, p.pa.LocalTS
	p.start(t)
	if st := p.a.engine.Status(context.Background()); len(st) != 0 {
		t.Fatalf("trap peer negotiated before any traffic: %+v", st)
	}
	ks := p.a.kernelSet(t)
	if len(ks.Policies) != 1 || ks.Policies[0].Dir != kernel.DirOut || ks.Policies[0].Template == nil {
		t.Fatalf("trap policies %+v, want one out policy with a template", ks.Policies)
	}
	reqid := ks.Policies[0].Template.Reqid
	p.a.engine.HandleKernelEvent(kernel.Event{Kind: kernel.EventAcquire, Acquire: kernel.Acquire{Reqid: reqid,
		Flow: kernel.Selector{Src: netip.MustParsePrefix("10.1.0.5/32"), Dst: netip.MustParsePrefix("10.2.0.9/32")}}})
	p.net.run(t)
	p.checkUp(t, kernel.ModeTunnel)
}

func TestDPD(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.pa.DPDInterval = 10 * time.Second
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	// A live peer answers the liveness checks: nothing changes.
	p.advance(t, 35*time.Second)
	p.checkUp(t, kernel.ModeTransport)
	// A dead one is detected after the retransmissions and restarted.
	p.net.drop = func(datagram) bool { return true }
	p.advance(t, 10*time.Second+RetransmitTimeout<<(RetransmitTries+1))
	for _, st := range p.a.engine.Status(context.Background()) {
		if st.State == "established" {
			t.Fatalf("a still has an established SA with a dead peer: %+v", st)
		}
	}
	if ks := p.a.kernelSet(t); len(ks.SAs) != 0 {
		t.Fatalf("a keeps %d kernel SAs for a dead peer", len(ks.SAs))
	}
	if p.a.log.count("no answer after 5 retransmissions") != 1 {
		t.Error("a did not log the dead peer once")
	}
	// The peer comes back: the "start" peer re-establishes after RestartDelay.
	p.net.drop = nil
	p.advance(t, RestartDelay)
	if st := p.a.only(t); st.State != "established" || len(st.Children) != 1 {
		t.Fatalf("not re-established: %+v", st)
	}
}

// TestNATKeepalive: only the side behind the NAT sends keepalives, one
// per silent interval, from its NAT-T port to the peer's.
func TestNATKeepalive(t *testing.T) {
	nat := netip.MustParseAddr("198.51.100.1")
	tests := []struct {
		name      string
		natted    bool // A behind a NAT
		keepalive time.Duration
		wantA     int // keepalives from A over three intervals
	}{
		{"behind a NAT", true, 0, 3},
		{"behind a NAT, shorter interval", true, 5 * time.Second, 12},
		{"behind a NAT, keepalives off", true, -1, 0},
		{"no NAT", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTransport, aConfig: func(c *Config) { c.KeepaliveInterval = tt.keepalive }})
			if tt.natted {
				p.pb.Remote = nat
				natRewrite(p, nat)
			}
			p.start(t)
			if sa, sb := p.a.only(t), p.b.only(t); sa.State != "established" || sb.State != "established" {
				t.Fatalf("states %s / %s", sa.State, sb.State)
			}
			p.advance(t, 3*DefaultKeepaliveInterval)
			if got := p.net.keepalivesFrom(p.a.addr); got != tt.wantA {
				t.Fatalf("A sent %d keepalives, want %d", got, tt.wantA)
			}
			// B sees A behind a NAT but is not behind one itself.
			if got := p.net.keepalivesFrom(p.b.addr); got != 0 {
				t.Fatalf("B sent %d keepalives, want none", got)
			}
			for _, d := range p.net.keepalives {
				if d.from != netip.AddrPortFrom(p.a.addr, 4500) || d.to != netip.AddrPortFrom(p.b.addr, 4500) {
					t.Fatalf("keepalive %v -> %v, want between the NAT-T ports", d.from, d.to)
				}
			}
		})
	}
}

// TestNATKeepaliveDeferredAndStopped: IKE traffic to the peer postpones
// the keepalive by a whole interval, and deleting the SA (from either
// side) ends them.
func TestNATKeepaliveDeferredAndStopped(t *testing.T) {
	for _, deleter := range []string{"a", "b"} {
		t.Run("deleted by "+deleter, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTransport})
			nat := netip.MustParseAddr("198.51.100.1")
			p.pb.Remote = nat
			natRewrite(p, nat)
			p.start(t)
			const half = DefaultKeepaliveInterval / 2
			p.advance(t, half)
			// A rekeys its CHILD_SA: IKE traffic to B halfway through.
			c := p.a.kernelSet(t).SAs[0]
			p.a.engine.HandleKernelEvent(kernel.Event{Kind: kernel.EventSoftExpire, Expire: kernel.Expire{SA: c.ID(), Reqid: c.Reqid}})
			p.net.run(t)
			p.advance(t, half)
			if got := p.net.keepalivesFrom(p.a.addr); got != 0 {
				t.Fatalf("%d keepalives one interval after the handshake despite the rekey traffic, want 0", got)
			}
			p.advance(t, half)
			if got := p.net.keepalivesFrom(p.a.addr); got != 1 {
				t.Fatalf("%d keepalives one interval after the rekey, want 1", got)
			}
			if deleter == "a" {
				if err := p.a.engine.Terminate("b"); err != nil {
					t.Fatal(err)
				}
			} else if err := p.b.engine.Terminate("a"); err != nil {
				t.Fatal(err)
			}
			p.net.run(t)
			p.checkDown(t)
			// A "start" peer retries after a peer's delete: let the retry
			// fail, so any keepalive would come from the deleted SA.
			p.net.drop = func(datagram) bool { return true }
			p.advance(t, 3*DefaultKeepaliveInterval)
			if got := p.net.keepalivesFrom(p.a.addr); got != 1 {
				t.Fatalf("%d keepalives after the SA was deleted, want none more than the 1 before", got)
			}
		})
	}
}
