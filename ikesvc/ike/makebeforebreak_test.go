package ike

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// TestMakeBeforeBreak replaces the SAs every way the engine knows while a
// traffic monitor checks, after every kernel change on either side, that
// each direction's sender uses an SA the receiver holds, and that the
// receiver keeps an SA for in-flight packets after the sender moved on.
// Each case ends with exactly one pair of SAs on both sides.
func TestMakeBeforeBreak(t *testing.T) {
	const inFlight = time.Second
	tests := []struct {
		name string
		mode kernel.Mode
		// collision builds the pair whose nonces settle a collision.
		collision bool
		setup     func(p *pair)
		run       func(t *testing.T, p *pair)
		// replaced: the CHILD_SA's SPIs must change.
		replaced bool
		// aErrors: how many errors a must log (the events an operator
		// must hear of); b must log none.
		aErrors int
	}{
		{name: "CHILD_SA rekey by the initiator", mode: kernel.ModeTransport, replaced: true,
			setup: func(p *pair) { p.pa.RekeyTime, p.pb.RekeyTime = time.Minute, time.Minute },
			run:   func(t *testing.T, p *pair) { p.advance(t, time.Minute) }},
		{name: "CHILD_SA rekey by the responder", mode: kernel.ModeTunnel, replaced: true,
			run: func(t *testing.T, p *pair) {
				p.b.engine.HandleKernelEvent(p.b.softExpire(t))
				p.net.run(t)
			}},
		{name: "CHILD_SA rekey whose Delete is late", mode: kernel.ModeTransport, replaced: true,
			run: func(t *testing.T, p *pair) {
				fromA := func(d datagram) bool { return d.from.Addr() == p.a.addr }
				p.net.hold = func(d datagram) bool { return fromA(d) && isRequest(wire.ExchangeInformational)(d) }
				p.a.engine.HandleKernelEvent(p.a.softExpire(t))
				p.net.run(t)
				p.advance(t, PendingOutboundLimit)
				wantLines(t, p.b, "outbound SA installed after", 1)
				p.net.hold = nil
				p.net.release(nil)
				p.net.run(t)
			}},
		{name: "CHILD_SA rekey collision", mode: kernel.ModeTunnel, collision: true, replaced: true,
			run: func(t *testing.T, p *pair) {
				p.a.engine.HandleKernelEvent(p.a.softExpire(t))
				p.b.engine.HandleKernelEvent(p.b.softExpire(t))
				p.net.run(t)
			}},
		{name: "IKE SA rekey by the initiator", mode: kernel.ModeTransport,
			setup: func(p *pair) { p.pa.IKERekeyTime = time.Minute },
			run:   func(t *testing.T, p *pair) { p.advance(t, time.Minute) }},
		{name: "IKE SA rekey by the responder", mode: kernel.ModeTunnel,
			run: func(t *testing.T, p *pair) {
				p.b.rekeyIKENow(t)
				p.net.run(t)
			}},
		{name: "IKE SA rekey collision", mode: kernel.ModeTunnel, collision: true,
			run: func(t *testing.T, p *pair) {
				p.a.rekeyIKENow(t)
				p.b.rekeyIKENow(t)
				p.net.run(t)
			}},
		{name: "reauthentication by the initiator", mode: kernel.ModeTransport, replaced: true,
			setup: func(p *pair) { p.pa.ReauthTime = time.Minute },
			run: func(t *testing.T, p *pair) {
				p.advance(t, time.Minute)
				wantLines(t, p.a, "reauthenticated as", 1)
				wantLines(t, p.b, "(the peer reauthenticated)", 1)
			}},
		{name: "reauthentication by the responder", mode: kernel.ModeTunnel, replaced: true,
			setup: func(p *pair) { p.pb.ReauthTime = time.Minute },
			run: func(t *testing.T, p *pair) {
				p.advance(t, time.Minute+time.Minute/10)
				wantLines(t, p.b, "reauthenticated as", 1)
			}},
		{name: "reauthentication by a respond-only responder", mode: kernel.ModeTunnel, replaced: true,
			setup: func(p *pair) { p.pb.ReauthTime, p.pb.Remote = time.Minute, netip.Addr{} },
			run: func(t *testing.T, p *pair) {
				p.advance(t, time.Minute+time.Minute/10)
				wantLines(t, p.b, "reauthenticated as", 1)
			}},
		{name: "reauthentication configured on both ends", mode: kernel.ModeTunnel, replaced: true,
			setup: func(p *pair) { p.pa.ReauthTime, p.pb.ReauthTime = time.Minute, time.Minute },
			run: func(t *testing.T, p *pair) {
				p.advance(t, time.Minute+time.Minute/10+time.Second)
				wantLines(t, p.a, "reauthenticated as", 1)
				wantLines(t, p.b, "reauthenticated as", 0)
			}},
		{name: "liveness probe of a live peer whose answers are lost", mode: kernel.ModeTunnel, replaced: true, aErrors: 1,
			setup: func(p *pair) { p.pa.DPDInterval, p.pa.DPDAction = 10*time.Second, DPDRestart },
			run: func(t *testing.T, p *pair) {
				// b's answers to a's liveness checks (the only
				// INFORMATIONALs) are lost: only the probe's fresh IKE SA
				// gets through, and replaces the old one.
				from := p.b.addr
				p.net.drop = func(d datagram) bool { return d.from.Addr() == from && isInformationalResponse(d.data) }
				p.advance(t, 10*time.Second+probeWait()+time.Second)
				p.net.drop = nil
				wantLines(t, p.a, "probing with IKE SA", 1)
				wantLines(t, p.a, "deleting that one now", 1)
				wantLines(t, p.b, "(the peer reauthenticated)", 1)
				p.advance(t, SupersededDeleteDelay+RetransmitTimeout<<(RetransmitTries+1))
				wantLines(t, p.a, "the peer is dead", 0)
			}},
		{name: "5 CHILD_SA rekeys, 2 IKE SA rekeys, 1 reauthentication", mode: kernel.ModeTunnel, replaced: true,
			setup: func(p *pair) {
				p.pa.RekeyTime, p.pb.RekeyTime = time.Minute, time.Minute
				p.pa.IKERekeyTime, p.pb.IKERekeyTime = 2*time.Minute, 2*time.Minute
				p.pa.ReauthTime, p.pb.ReauthTime = 5*time.Minute, 5*time.Minute
			},
			run: func(t *testing.T, p *pair) {
				p.advance(t, 6*time.Minute)
				wantLines(t, p.a, "reauthenticated as", 1)
				wantAtLeast(t, p.a, "CHILD_SA", "rekeyed as", 5)
				wantAtLeast(t, p.a, "IKE SA", "rekeyed as", 2)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *pair
			if tt.collision {
				p = collisionPair(t, true, time.Hour)
			} else {
				p = newPair(t, pairOpts{mode: tt.mode})
			}
			if tt.setup != nil {
				tt.setup(p)
			}
			m := newTrafficMonitor(t, p, inFlight)
			p.start(t)
			p.checkUp(t, tt.mode)
			before := p.a.only(t)
			m.arm()
			tt.run(t, p)
			p.settle(t)
			m.disarm()
			m.result(t)
			p.checkUp(t, tt.mode)
			onePair(t, p.a, p.b)
			after := p.a.only(t)
			if changed := after.Children[0].InSPI != before.Children[0].InSPI; changed != tt.replaced {
				t.Errorf("CHILD_SA %s -> %s: replaced %v, want %v", before.Children[0].InSPI, after.Children[0].InSPI, changed, tt.replaced)
			}
			if n := p.a.log.count(""); n != tt.aErrors {
				p.a.log.mu.Lock()
				t.Errorf("a logged %d errors, want %d: %q", n, tt.aErrors, p.a.log.errors)
				p.a.log.mu.Unlock()
			}
			noErrors(t, p.b)
		})
	}
}

func wantLines(t *testing.T, ep *endpoint, s string, n int) {
	t.Helper()
	if got := ep.log.countLines(containing(s)); got != n {
		t.Errorf("%s logged %q %d times, want %d", ep.name, s, got, n)
	}
}

// wantAtLeast wants n log lines with both what and s.
func wantAtLeast(t *testing.T, ep *endpoint, what, s string, n int) {
	t.Helper()
	got := ep.log.countLines(func(line string) bool { return strings.Contains(line, what) && strings.Contains(line, s) })
	if got < n {
		t.Errorf("%s logged %q ... %q %d times, want at least %d", ep.name, what, s, got, n)
	}
}

// TestSimultaneousStart: both ends are "start" peers and initiate at the
// same moment, so two IKE SAs come up; the redundant one is deleted by
// its initiator and one pair of SAs is left, with no errors logged.
func TestSimultaneousStart(t *testing.T) {
	for _, aWins := range []bool{true, false} {
		t.Run(fmt.Sprintf("a wins %v", aWins), func(t *testing.T) {
			p := collisionPair(t, aWins, time.Hour)
			p.pb.StartAction = StartStart
			if _, err := p.b.engine.SetPeers([]PeerConfig{p.pb}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.a.engine.SetPeers([]PeerConfig{p.pa}); err != nil {
				t.Fatal(err)
			}
			p.net.run(t)
			p.settle(t)
			p.checkUp(t, kernel.ModeTunnel)
			onePair(t, p.a, p.b)
			n := p.a.log.countLines(containing("came up at once")) + p.b.log.countLines(containing("came up at once"))
			if n != 1 {
				t.Errorf("%d duplicate IKE SAs deleted, want 1", n)
			}
			noErrors(t, p.a, p.b)
		})
	}
}

// TestReauthFailureKeepsOldSAs: a reauthentication whose IKE_SA_INIT gets
// no answer leaves the old IKE SA and its CHILD_SA carrying the traffic
// and is tried again after rekeyRetry, which then succeeds.
func TestReauthFailureKeepsOldSAs(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTunnel})
	p.pa.ReauthTime = time.Minute
	m := newTrafficMonitor(t, p, time.Second)
	p.start(t)
	p.checkUp(t, kernel.ModeTunnel)
	before := p.a.only(t)
	m.arm()
	p.net.drop = isRequest(wire.ExchangeIKESAInit)
	p.advance(t, time.Minute+RetransmitTimeout<<(RetransmitTries+1))
	wantLines(t, p.a, "reauthentication of IKE SA", 1)
	if now := p.a.only(t); now.SPIi != before.SPIi || now.Children[0].InSPI != before.Children[0].InSPI {
		t.Fatalf("the failed reauthentication replaced the SAs: %+v", now)
	}
	p.net.drop = nil
	p.advance(t, rekeyRetry)
	p.settle(t)
	m.disarm()
	m.result(t)
	p.checkUp(t, kernel.ModeTunnel)
	onePair(t, p.a, p.b)
	wantLines(t, p.a, "reauthenticated as", 1)
	if now := p.a.only(t); now.SPIi == before.SPIi {
		t.Error("the retried reauthentication did not replace the IKE SA")
	}
}

// TestSupersededLastIKESAStays: an IKE SA marked superseded (a peer's
// reauthentication or a duplicate took over) whose replacement is gone is
// not deleted when the peer's Delete does not come: it is the peer's
// only one and carries the traffic.
func TestSupersededLastIKESAStays(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTunnel})
	p.start(t)
	p.checkUp(t, kernel.ModeTunnel)
	before := p.b.only(t)
	p.b.engine.mu.Lock()
	for _, sa := range p.b.engine.sas {
		sa.supersede()
	}
	p.b.engine.mu.Unlock()
	p.advance(t, SupersededDeleteDelay+time.Second)
	p.checkUp(t, kernel.ModeTunnel)
	if after := p.b.only(t); after.SPIi != before.SPIi {
		t.Errorf("IKE SA replaced: %s -> %s", before.SPIi, after.SPIi)
	}
	wantLines(t, p.b, "is the peer's last one; keeping it", 1)
}

// reauthNow starts a reauthentication of ep's established IKE SA, as its
// reauth timer would.
func (ep *endpoint) reauthNow(t *testing.T) {
	t.Helper()
	ep.engine.mu.Lock()
	defer ep.engine.mu.Unlock()
	for _, sa := range ep.engine.sas {
		if sa.state == StateEstablished {
			sa.expiredReauth()
			if sa.reauthing == nil {
				t.Fatalf("%s: the reauthentication did not start", ep.name)
			}
			return
		}
	}
	t.Fatalf("%s: no established IKE SA", ep.name)
}

// TestSimultaneousReauth: both ends reauthenticate at the same moment
// (configured alike but with different clocks). Two new IKE SAs come up
// next to the old one; each end deletes the old one, and the nonces
// settle the two new ones as for a simultaneous start. The traffic never
// meets a missing SA, and one IKE SA with one pair of SAs is left.
func TestSimultaneousReauth(t *testing.T) {
	for _, aWins := range []bool{true, false} {
		t.Run(fmt.Sprintf("a wins %v", aWins), func(t *testing.T) {
			p := collisionPair(t, aWins, time.Hour)
			p.pa.ReauthTime, p.pb.ReauthTime = time.Hour, time.Hour
			m := newTrafficMonitor(t, p, time.Second)
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			m.arm()
			p.a.reauthNow(t)
			p.b.reauthNow(t)
			p.net.run(t)
			p.advance(t, SupersededDeleteDelay+time.Second)
			m.disarm()
			m.result(t)
			p.checkUp(t, kernel.ModeTunnel)
			onePair(t, p.a, p.b)
			noErrors(t, p.a, p.b)
		})
	}
}

// TestRestartMidRekey: ikesvc restarting on its saved state in the middle
// of a make-before-break rekey keeps its place: B, the responder, restarts
// while its new outbound SA still waits for A's Delete, and keeps waiting;
// then A restarts while the old inbound SA lingers, and it lingers on to
// the end of its grace. No gap in either direction, one pair at the end.
func TestRestartMidRekey(t *testing.T) {
	p, boxA, boxB := newSavingPair(t, pairOpts{mode: kernel.ModeTransport})
	m := newTrafficMonitor(t, p, time.Second)
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	m.arm()
	fromA := func(d datagram) bool { return d.from.Addr() == p.a.addr }
	p.net.hold = func(d datagram) bool { return fromA(d) && isRequest(wire.ExchangeInformational)(d) }
	p.a.engine.HandleKernelEvent(p.a.softExpire(t))
	p.net.run(t)
	if n := outSAsTowards(p.b.kernelSet(t), p.a.addr); n != 1 {
		t.Fatalf("b has %d outbound SAs before A's Delete, want the old one only", n)
	}
	if err := p.crash(t, p.b, boxB, boxB.get(), p.pb); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	if n := outSAsTowards(p.b.kernelSet(t), p.a.addr); n != 1 {
		t.Fatalf("b has %d outbound SAs after its restart, want the old one only", n)
	}
	p.net.hold = nil
	p.net.release(nil)
	p.net.run(t)
	if n := len(p.a.kernelSet(t).SAs); n != 3 {
		t.Fatalf("a holds %d SAs after the Delete, want the new pair and the lingering old inbound", n)
	}
	if err := p.crash(t, p.a, boxA, boxA.get(), p.pa); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	if n := len(p.a.kernelSet(t).SAs); n != 3 {
		t.Fatalf("a holds %d SAs after its restart, want the lingering old inbound still there", n)
	}
	p.settle(t)
	m.disarm()
	m.result(t)
	p.checkUp(t, kernel.ModeTransport)
	onePair(t, p.a, p.b)
}
