package ike

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// reboot crashes ep's engine, which forgets its SAs and kernel entries
// and sends nothing more, and boots a fresh one on the same address with
// the same credentials, configured with pc.
func (p *pair) reboot(t *testing.T, ep *endpoint, pc PeerConfig) *endpoint {
	t.Helper()
	ep.engine.mu.Lock()
	ep.engine.closed = true
	ep.engine.mu.Unlock()
	n := newEndpointWith(t, p.net, p.clock, ep.name, ep.addr, ep.cert, ep.key, ep.inter, ep.trust)
	if ep == p.a {
		p.a = n
	} else {
		p.b = n
	}
	if _, err := n.engine.SetPeers([]PeerConfig{pc}); err != nil {
		t.Fatal(err)
	}
	return n
}

// up reports whether both ends have one established IKE SA with one
// CHILD_SA, and the CHILD_SAs pair up.
func (p *pair) up() bool {
	sa, sb := p.a.engine.Status(context.Background()), p.b.engine.Status(context.Background())
	if len(sa) != 1 || len(sb) != 1 || sa[0].State != "established" || sb[0].State != "established" ||
		len(sa[0].Children) != 1 || len(sb[0].Children) != 1 || sa[0].SPIi != sb[0].SPIi {
		return false
	}
	ca, cb := sa[0].Children[0], sb[0].Children[0]
	return ca.InSPI == cb.OutSPI && ca.OutSPI == cb.InSPI
}

// untilUp advances time in steps until the pair is up and returns how
// long that took; it fails after limit.
func (p *pair) untilUp(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	const step = 100 * time.Millisecond
	for d := time.Duration(0); d <= limit; d += step {
		if p.up() {
			return d
		}
		p.advance(t, step)
	}
	t.Fatalf("not up again within %v: a %+v, b %+v", limit, p.a.engine.Status(context.Background()), p.b.engine.Status(context.Background()))
	return 0
}

// TestDeadPeer: the peer's state goes (it reboots, or it stops answering)
// and the DPD action decides what follows. After a reboot traffic must
// flow again within the DPD interval and one handshake (instant on the
// test network), plus RestartDelay where the action waits for the start
// action.
func TestDeadPeer(t *testing.T) {
	const dpd = 10 * time.Second
	tests := []struct {
		name   string
		setup  func(p *pair)
		reboot func(t *testing.T, p *pair)
		// within: how soon after the reboot the SAs are up again.
		within time.Duration
		aLog   string // a line a must log
		bLog   string // a line b must log
		trap   string // "a" or "b" installed trap policies: a packet must start it
	}{
		{name: "responder reboots, restart", within: dpd + time.Second,
			setup:  func(p *pair) { p.pa.DPDInterval, p.pa.DPDAction = dpd, DPDRestart },
			reboot: func(t *testing.T, p *pair) { p.reboot(t, p.b, p.pb) },
			aLog:   "answered twice with INVALID_IKE_SPI", bLog: "unknown IKE SA"},
		{name: "responder reboots half an interval after a rekey, restart", within: dpd + time.Second,
			setup: func(p *pair) { p.pa.DPDInterval, p.pa.DPDAction = dpd, DPDRestart },
			reboot: func(t *testing.T, p *pair) {
				// B's rekey is the last A hears from it before it dies.
				p.advance(t, dpd/2)
				p.b.engine.HandleKernelEvent(p.b.softExpire(t))
				p.net.run(t)
				p.reboot(t, p.b, p.pb)
			},
			aLog: "answered twice with INVALID_IKE_SPI"},
		{name: "responder reboots and says nothing of the lost IKE SA (strongSwan), restart", within: dpd + probeWait() + time.Second,
			setup: func(p *pair) { p.pa.DPDInterval, p.pa.DPDAction = dpd, DPDRestart },
			reboot: func(t *testing.T, p *pair) {
				p.reboot(t, p.b, p.pb)
				from := p.b.addr
				p.net.drop = func(d datagram) bool { return d.from.Addr() == from && isInvalidIKESPIDatagram(d.data) }
			},
			aLog: "deleting that one now (the peer lost it"},
		{name: "responder reboots, clear (start peer)", within: dpd + RestartDelay + time.Second,
			setup:  func(p *pair) { p.pa.DPDInterval, p.pa.DPDAction = dpd, DPDClear },
			reboot: func(t *testing.T, p *pair) { p.reboot(t, p.b, p.pb) },
			aLog:   "dpd-action clear"},
		{name: "responder reboots, trap", within: dpd + time.Second, trap: "a",
			setup:  func(p *pair) { p.pa.DPDInterval, p.pa.DPDAction = dpd, DPDTrap },
			reboot: func(t *testing.T, p *pair) { p.reboot(t, p.b, p.pb) },
			aLog:   "trap policies installed"},
		{name: "initiator reboots: INITIAL_CONTACT", within: time.Second,
			setup:  func(p *pair) { p.pb.DPDInterval, p.pb.DPDAction = dpd, DPDClear },
			reboot: func(t *testing.T, p *pair) { p.reboot(t, p.a, p.pa) },
			bLog:   "(INITIAL_CONTACT)"},
		{name: "a respond-only peer restarts a rebooted initiator", within: dpd + time.Second,
			setup: func(p *pair) {
				p.pb.Remote = netip.Addr{}
				p.pb.DPDInterval, p.pb.DPDAction = dpd, DPDRestart
			},
			reboot: func(t *testing.T, p *pair) {
				pc := p.pa
				pc.StartAction = StartNone // it does not come back by itself
				p.reboot(t, p.a, pc)
			},
			bLog: "restarting at once"},
		{name: "a respond-only peer traps a rebooted initiator", within: dpd + time.Second, trap: "b",
			setup: func(p *pair) {
				p.pb.Remote = netip.Addr{}
				p.pb.DPDInterval, p.pb.DPDAction = dpd, DPDTrap
				p.pb.LocalTS, p.pb.RemoteTS = p.pa.RemoteTS, p.pa.LocalTS // no narrowing: one out policy
			},
			reboot: func(t *testing.T, p *pair) {
				pc := p.pa
				pc.StartAction = StartNone
				p.reboot(t, p.a, pc)
			},
			bLog: "trap policies installed"},
		{name: "rebooted trap responder initiates on the peer's request", within: dpd + time.Second,
			setup: func(p *pair) { p.pa.DPDInterval, p.pa.DPDAction = dpd, DPDClear },
			reboot: func(t *testing.T, p *pair) {
				pc := p.pb
				pc.StartAction = StartTrap
				pc.LocalTS, pc.RemoteTS = p.pa.RemoteTS, p.pa.LocalTS // no narrowing: one out policy
				p.reboot(t, p.b, pc)
			},
			bLog: "the peer kept SAs we lost; initiating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTunnel, tunnelNetworks: true})
			tt.setup(p)
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			tt.reboot(t, p)
			if tt.trap != "" {
				ep := map[string]*endpoint{"a": p.a, "b": p.b}[tt.trap]
				p.advance(t, dpd+time.Second)
				ks := ep.kernelSet(t)
				if len(ks.SAs) != 0 || len(ks.Policies) != 1 || ks.Policies[0].Dir != kernel.DirOut || ks.Policies[0].Template == nil {
					t.Fatalf("%s after the dead peer: %+v; want one trap policy and no SAs", ep.name, ks)
				}
				if st := ep.engine.Status(context.Background()); len(st) != 0 {
					t.Fatalf("%s negotiates before any traffic: %+v", ep.name, st)
				}
				ep.engine.HandleKernelEvent(kernel.Event{Kind: kernel.EventAcquire, Acquire: kernel.Acquire{Reqid: ks.Policies[0].Template.Reqid,
					Flow: kernel.Selector{Src: ks.Policies[0].Selector.Src, Dst: ks.Policies[0].Selector.Dst}}})
				p.net.run(t)
			}
			took := p.untilUp(t, tt.within)
			t.Logf("up again %v after the reboot", took)
			p.settle(t)
			p.checkUp(t, kernel.ModeTunnel)
			onePair(t, p.a, p.b)
			if tt.aLog != "" && p.a.log.countLines(containing(tt.aLog)) == 0 {
				t.Errorf("a did not log %q", tt.aLog)
			}
			if tt.bLog != "" && p.b.log.countLines(containing(tt.bLog)) == 0 {
				t.Errorf("b did not log %q", tt.bLog)
			}
		})
	}
}

// TestDeadPeerSilent: a peer that stops answering altogether is declared
// dead after the retransmissions, and each action leaves the kernel as
// it says: nothing (clear, respond-only), a trap policy (trap), or a new
// attempt in flight (restart).
func TestDeadPeerSilent(t *testing.T) {
	const dpd = 10 * time.Second
	tests := []struct {
		action   DPDAction
		start    StartAction
		policies int  // a's policies after the death
		initSent bool // a initiates again without waiting
	}{
		{DPDClear, StartNone, 0, false},
		{DPDTrap, StartNone, 1, false},
		{DPDRestart, StartNone, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.action.String(), func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTunnel, tunnelNetworks: true})
			p.pa.DPDInterval, p.pa.DPDAction = dpd, tt.action
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			p.pa.StartAction = tt.start
			p.net.drop = func(datagram) bool { return true }
			p.advance(t, dpd+RetransmitTimeout<<(RetransmitTries+1))
			if n := p.a.log.countLines(containing("retransmissions: the peer is dead (dpd-action " + tt.action.String())); n != 1 {
				t.Errorf("a logged the dead peer %d times, want once", n)
			}
			ks := p.a.kernelSet(t)
			if len(ks.SAs) != 0 || len(ks.Policies) != tt.policies {
				t.Errorf("a's kernel after the death: %d SAs, %d policies; want 0, %d", len(ks.SAs), len(ks.Policies), tt.policies)
			}
			initiating := false
			for _, st := range p.a.engine.Status(context.Background()) {
				if st.State == StateInitSent.String() {
					initiating = true
				}
			}
			if initiating != tt.initSent {
				t.Errorf("a initiating again: %v, want %v", initiating, tt.initSent)
			}
		})
	}
}

// isInvalidIKESPIDatagram reports whether data is an unprotected
// INVALID_IKE_SPI answer.
func isInvalidIKESPIDatagram(data []byte) bool {
	m, err := wire.Decode(data, nil)
	return err == nil && !m.Encrypted && m.FindNotify(wire.NotifyInvalidIKESPI) != nil
}

// isInformationalResponse reports whether data is the answer to an
// INFORMATIONAL request.
func isInformationalResponse(data []byte) bool {
	h, err := wire.ParseHeader(data)
	return err == nil && h.Exchange == wire.ExchangeInformational && h.IsResponse()
}
