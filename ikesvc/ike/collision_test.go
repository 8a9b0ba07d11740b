package ike

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// orderedNonces is an engine's randomness whose nonce-sized reads start
// with prefix and then a 16-bit counter that moves by step per nonce, so
// a test decides which end's nonces are lower and, of one end's nonces,
// whether the earlier or the later one is.
type orderedNonces struct {
	mu      sync.Mutex
	prefix  byte
	counter uint16
	step    uint16 // 1 counts up, 0xffff down
}

func (r *orderedNonces) Read(p []byte) (int, error) {
	if _, err := rand.Read(p); err != nil {
		return 0, err
	}
	if len(p) == NonceLen {
		r.mu.Lock()
		p[0] = r.prefix
		binary.BigEndian.PutUint16(p[1:], r.counter)
		r.counter += r.step
		r.mu.Unlock()
	}
	return len(p), nil
}

// collisionPair is a tunnel pair whose nonces make aWins decide a rekey
// collision: A's nonces are all below B's, so the lowest of the four is
// one of A's two, its request's Ni or its answer's Nr. A counting down
// makes its later Nr, which belongs to B's exchange, the lowest: B's new
// SA is redundant and A's stays.
func collisionPair(t *testing.T, aWins bool, rekey time.Duration) *pair {
	t.Helper()
	na := &orderedNonces{prefix: 0x00, counter: 0x8000, step: 1}
	if aWins {
		na.step = 0xffff
	}
	nb := &orderedNonces{prefix: 0x80, counter: 0x8000, step: 1}
	return newPair(t, pairOpts{
		mode: kernel.ModeTunnel, tunnelNetworks: true, rekey: rekey,
		aConfig: func(c *Config) { c.Random = na },
		bConfig: func(c *Config) { c.Random = nb },
	})
}

// softExpire is the kernel's soft-expire event for ep's inbound SA of its
// only CHILD_SA: what starts a rekey ahead of the rekey timer.
func (ep *endpoint) softExpire(t *testing.T) kernel.Event {
	t.Helper()
	c := ep.only(t).Children[0]
	return kernel.Event{Kind: kernel.EventSoftExpire, Expire: kernel.Expire{
		SA: kernel.SAID{Dst: ep.addr, SPI: hexSPI(t, c.InSPI)}, Reqid: c.Reqid}}
}

// rekeyIKENow starts a rekey of ep's established IKE SA, as its rekey
// timer would.
func (ep *endpoint) rekeyIKENow(t *testing.T) {
	t.Helper()
	ep.engine.mu.Lock()
	defer ep.engine.mu.Unlock()
	var sa *ikeSA
	for _, x := range ep.engine.sas {
		if x.state == StateEstablished {
			if sa != nil {
				t.Fatalf("%s: more than one established IKE SA", ep.name)
			}
			sa = x
		}
	}
	if sa == nil {
		t.Fatalf("%s: no established IKE SA", ep.name)
	}
	sa.rekeyIKE()
	if !sa.rekeyingIKE {
		t.Fatalf("%s: the IKE SA rekey did not start", ep.name)
	}
}

func containing(s string) func(string) bool {
	return func(line string) bool { return strings.Contains(line, s) }
}

// sameChildView checks that a rekey kept what the CHILD_SA protects.
func sameChildView(t *testing.T, name string, before, after ChildSAStatus) {
	t.Helper()
	if !slices.Equal(before.LocalTS, after.LocalTS) || !slices.Equal(before.RemoteTS, after.RemoteTS) || before.Mode != after.Mode || before.Reqid != after.Reqid {
		t.Errorf("%s: CHILD_SA changed from %v -> %v (%s, reqid %d) to %v -> %v (%s, reqid %d)", name,
			before.LocalTS, before.RemoteTS, before.Mode, before.Reqid, after.LocalTS, after.RemoteTS, after.Mode, after.Reqid)
	}
}

func policyIDs(t *testing.T, ep *endpoint) []kernel.PolicyID {
	t.Helper()
	var ids []kernel.PolicyID
	for _, p := range ep.kernelSet(t).Policies {
		ids = append(ids, p.ID())
	}
	return ids
}

func noErrors(t *testing.T, eps ...*endpoint) {
	t.Helper()
	for _, ep := range eps {
		if n := ep.log.count(""); n != 0 {
			ep.log.mu.Lock()
			t.Errorf("%s logged %d errors: %q", ep.name, n, ep.log.errors)
			ep.log.mu.Unlock()
		}
	}
}

// TestChildRekeyCollision: both ends rekey the CHILD_SA before either
// request arrives (RFC 7296 2.8.1). Each answers the other's request; the
// new SA with the lowest nonce goes, deleted by its exchange's initiator,
// and the other end deletes the old SA: one pair is left on both ends.
func TestChildRekeyCollision(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aWins bool
	}{
		{"a's new CHILD_SA stays", true},
		{"b's new CHILD_SA stays", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const rekey = 10 * time.Minute
			p := collisionPair(t, tc.aWins, rekey)
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			beforeA, beforeB := p.a.only(t).Children[0], p.b.only(t).Children[0]
			polA, polB := policyIDs(t, p.a), policyIDs(t, p.b)

			p.a.kern.applied, p.b.kern.applied = nil, nil
			p.a.engine.HandleKernelEvent(p.a.softExpire(t))
			p.b.engine.HandleKernelEvent(p.b.softExpire(t))
			p.net.run(t)

			p.settle(t)
			p.checkUp(t, kernel.ModeTunnel)
			// Traffic never met a missing SA, and no more than the old and
			// the two new pairs were ever installed.
			for _, ep := range []*endpoint{p.a, p.b} {
				for i, set := range ep.kern.applied {
					if len(set.SAs) < 2 || len(set.SAs) > 6 {
						t.Errorf("%s: kernel set %d during the collision holds %d SAs", ep.name, i, len(set.SAs))
					}
				}
			}
			afterA, afterB := p.a.only(t).Children[0], p.b.only(t).Children[0]
			if afterA.InSPI == beforeA.InSPI || afterA.OutSPI == beforeA.OutSPI {
				t.Fatalf("CHILD_SA not rekeyed: %s/%s", afterA.InSPI, afterA.OutSPI)
			}
			sameChildView(t, "a", beforeA, afterA)
			sameChildView(t, "b", beforeB, afterB)
			if !slices.Equal(polA, policyIDs(t, p.a)) || !slices.Equal(polB, policyIDs(t, p.b)) {
				t.Errorf("policies changed with the rekey")
			}
			winner, loser := p.a, p.b
			winnerChild, loserChild := afterA, afterB
			if !tc.aWins {
				winner, loser = p.b, p.a
				winnerChild, loserChild = afterB, afterA
			}
			for _, ep := range []*endpoint{p.a, p.b} {
				if n := ep.log.countLines(containing("rekeyed by both ends at once")); n != 1 {
					t.Errorf("%s saw the collision %d times, want 1", ep.name, n)
				}
			}
			// Two SAs go, each deleted once, by the end the RFC names.
			checks := []struct {
				ep   *endpoint
				line string
				want int
			}{
				{loser, "(redundant after a rekey collision)", 1},
				{winner, "(redundant after a rekey collision)", 0},
				{winner, "(rekeyed)", 1},
				{loser, "(rekeyed)", 0},
			}
			for _, c := range checks {
				if n := c.ep.log.countLines(containing(c.line)); n != c.want {
					t.Errorf("%s logged %q %d times, want %d", c.ep.name, c.line, n, c.want)
				}
			}
			// The survivor came from the winner's exchange: the winner
			// initiated it and rekeys it on time, the loser 10% later.
			if winnerChild.RekeyIn >= loserChild.RekeyIn {
				t.Errorf("surviving CHILD_SA rekeys in %v on the winner %s, %v on %s: not the winner's exchange", winnerChild.RekeyIn, winner.name, loserChild.RekeyIn, loser.name)
			}
			noErrors(t, p.a, p.b)

			// Nothing is left to delete as "superseded" later on.
			p.advance(t, SupersededDeleteDelay+time.Second)
			p.checkUp(t, kernel.ModeTunnel)
			if now := p.a.only(t).Children[0]; now.InSPI != afterA.InSPI {
				t.Fatalf("CHILD_SA changed after the collision settled: %s -> %s", afterA.InSPI, now.InSPI)
			}
			for _, ep := range []*endpoint{p.a, p.b} {
				if n := ep.log.countLines(containing("(superseded)")); n != 0 {
					t.Errorf("%s deleted %d superseded CHILD_SAs the peer should have", ep.name, n)
				}
			}

			// A normal rekey still works.
			p.advance(t, rekey)
			p.checkUp(t, kernel.ModeTunnel)
			later := p.a.only(t).Children[0]
			if later.InSPI == afterA.InSPI {
				t.Fatal("no normal rekey after the collision")
			}
			sameChildView(t, "a", beforeA, later)
			noErrors(t, p.a, p.b)
		})
	}
}

func isRequest(x wire.ExchangeType) func(d datagram) bool {
	return func(d datagram) bool {
		h, err := wire.ParseHeader(d.data)
		return err == nil && h.Exchange == x && !h.IsResponse()
	}
}

// TestChildRekeyLateCollision: B's rekey request is delayed until A has
// completed its own rekey and deletes the old CHILD_SA; A refuses it with
// TEMPORARY_FAILURE while its Delete is in flight, or CHILD_SA_NOT_FOUND
// once the SA is gone (RFC 7296 2.25.1). A's new CHILD_SA stays.
func TestChildRekeyLateCollision(t *testing.T) {
	for _, tc := range []struct {
		name        string
		deleteFirst bool   // A's Delete completes before B's request arrives
		aSays, bSay string // what A logs refusing, and B giving up
	}{
		{"temporary failure", false, "refused rekey of CHILD_SA", "the peer's rekey as"},
		{"not found", true, "rekey of unknown CHILD_SA", "the peer deleted it meanwhile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := collisionPair(t, false, 10*time.Minute)
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			before := p.a.only(t).Children[0]

			fromA := func(d datagram) bool { return d.from.Addr() == p.a.addr }
			fromB := func(d datagram) bool { return d.from.Addr() == p.b.addr }
			heldB := false
			p.net.hold = func(d datagram) bool {
				if fromB(d) && isRequest(wire.ExchangeCreateChildSA)(d) && !heldB {
					heldB = true
					return true
				}
				return !tc.deleteFirst && fromA(d) && isRequest(wire.ExchangeInformational)(d)
			}
			p.a.engine.HandleKernelEvent(p.a.softExpire(t))
			p.b.engine.HandleKernelEvent(p.b.softExpire(t))
			p.net.run(t)
			p.net.release(fromB)
			p.net.run(t)
			p.net.hold = nil
			p.net.release(nil)
			p.net.run(t)

			p.settle(t)
			p.checkUp(t, kernel.ModeTunnel)
			after := p.a.only(t).Children[0]
			if after.InSPI == before.InSPI {
				t.Fatal("CHILD_SA not rekeyed")
			}
			sameChildView(t, "a", before, after)
			if n := p.a.log.countLines(containing(tc.aSays)); n != 1 {
				t.Errorf("a logged %q %d times, want 1", tc.aSays, n)
			}
			if n := p.b.log.countLines(containing(tc.bSay)); n != 1 {
				t.Errorf("b logged %q %d times, want 1", tc.bSay, n)
			}
			if n := p.b.log.count("rekeying CHILD_SA"); n != 0 {
				t.Errorf("b reports its refused rekey as a failure to retry (%d times)", n)
			}
			noErrors(t, p.a, p.b)
			// B does not retry a rekey of the old SA, and nothing else goes.
			p.advance(t, SupersededDeleteDelay+time.Second)
			p.checkUp(t, kernel.ModeTunnel)
			if now := p.a.only(t).Children[0]; now.InSPI != after.InSPI {
				t.Fatalf("CHILD_SA changed after the collision settled: %s -> %s", after.InSPI, now.InSPI)
			}
		})
	}
}

// TestIKERekeyCollision: both ends rekey the IKE SA before either request
// arrives (RFC 7296 2.8.2). The new IKE SA with the lowest nonce is
// deleted by its initiator, the old one by the other end, and the
// CHILD_SA lives on, unchanged, under the surviving IKE SA on both ends.
func TestIKERekeyCollision(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aWins bool
	}{
		{"a's new IKE SA stays", true},
		{"b's new IKE SA stays", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ikeRekey = 30 * time.Minute
			p := collisionPair(t, tc.aWins, time.Hour)
			p.pa.IKERekeyTime, p.pb.IKERekeyTime = ikeRekey, ikeRekey
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			before, kernelBefore := p.a.only(t), p.a.kernelSet(t)
			polB := policyIDs(t, p.b)

			p.a.rekeyIKENow(t)
			p.b.rekeyIKENow(t)
			p.net.run(t)

			p.checkUp(t, kernel.ModeTunnel)
			afterA, afterB := p.a.only(t), p.b.only(t)
			if afterA.SPIi == before.SPIi || afterA.SPIr == before.SPIr {
				t.Fatalf("IKE SPIs unchanged: %s/%s", afterA.SPIi, afterA.SPIr)
			}
			if afterA.Children[0].InSPI != before.Children[0].InSPI || afterA.Children[0].OutSPI != before.Children[0].OutSPI {
				t.Errorf("the CHILD_SA changed with the IKE SA rekey")
			}
			sameChildView(t, "a", before.Children[0], afterA.Children[0])
			ka := p.a.kernelSet(t)
			for i := range ka.SAs {
				if ka.SAs[i].ID() != kernelBefore.SAs[i].ID() {
					t.Errorf("kernel SAs changed: %+v -> %+v", kernelBefore.SAs, ka.SAs)
				}
			}
			if !slices.Equal(policyIDs(t, p.b), polB) {
				t.Errorf("b's policies changed with the IKE SA rekey")
			}
			winner, loser := p.a, p.b
			winnerSA, loserSA := afterA, afterB
			if !tc.aWins {
				winner, loser = p.b, p.a
				winnerSA, loserSA = afterB, afterA
			}
			if !winnerSA.Initiator || loserSA.Initiator {
				t.Errorf("surviving IKE SA: initiator on %s %v, on %s %v; want the winner's exchange", winner.name, winnerSA.Initiator, loser.name, loserSA.Initiator)
			}
			checks := []struct {
				ep   *endpoint
				line func(string) bool
				want int
			}{
				{winner, containing("stays"), 1},
				{winner, containing(": our "), 1},
				{loser, containing(": the peer's "), 1},
				{loser, containing("deleting IKE SA"), 1},
				{winner, containing("deleting IKE SA"), 0},
			}
			for _, ep := range []*endpoint{p.a, p.b} {
				// Each end deletes one IKE SA and has one deleted by the peer.
				checks = append(checks,
					struct {
						ep   *endpoint
						line func(string) bool
						want int
					}{ep, func(l string) bool {
						return strings.HasPrefix(l, "ike: peer") && strings.HasSuffix(l, " deleted") && strings.Contains(l, ": IKE SA ")
					}, 1},
					struct {
						ep   *endpoint
						line func(string) bool
						want int
					}{ep, containing("peer deleted IKE SA"), 1})
			}
			for i, c := range checks {
				if n := c.ep.log.countLines(c.line); n != c.want {
					t.Errorf("check %d: %s logged it %d times, want %d", i, c.ep.name, n, c.want)
				}
			}
			noErrors(t, p.a, p.b)

			p.advance(t, SupersededDeleteDelay+time.Second)
			p.checkUp(t, kernel.ModeTunnel)
			if now := p.a.only(t); now.SPIi != afterA.SPIi {
				t.Fatalf("IKE SA changed after the collision settled: %s -> %s", afterA.SPIi, now.SPIi)
			}
			// A normal IKE SA rekey, then a CHILD_SA rekey, still work.
			p.advance(t, ikeRekey)
			p.checkUp(t, kernel.ModeTunnel)
			if now := p.a.only(t); now.SPIi == afterA.SPIi {
				t.Fatal("no normal IKE SA rekey after the collision")
			}
			p.advance(t, time.Hour-ikeRekey)
			p.checkUp(t, kernel.ModeTunnel)
			if now := p.a.only(t).Children[0]; now.InSPI == before.Children[0].InSPI {
				t.Fatal("no CHILD_SA rekey on the IKE SA after the collision")
			}
			noErrors(t, p.a, p.b)
			if err := p.a.engine.Terminate("b"); err != nil {
				t.Fatal(err)
			}
			p.net.run(t)
			p.checkDown(t)
		})
	}
}

// TestIKERekeyLateCollision: B's IKE SA rekey request is delayed until A
// has completed its own rekey and is deleting the old IKE SA. A refuses it
// with TEMPORARY_FAILURE (or, once the old SA is gone, never sees it); B
// hands its CHILD_SA to A's new IKE SA, the one both ends keep.
func TestIKERekeyLateCollision(t *testing.T) {
	for _, tc := range []struct {
		name        string
		deleteFirst bool // A's Delete of the old IKE SA reaches B first
	}{
		{"temporary failure", false},
		{"delete first", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := collisionPair(t, false, time.Hour)
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			before := p.a.only(t)

			fromA := func(d datagram) bool { return d.from.Addr() == p.a.addr }
			fromB := func(d datagram) bool { return d.from.Addr() == p.b.addr }
			heldB := false
			p.net.hold = func(d datagram) bool {
				if fromB(d) && isRequest(wire.ExchangeCreateChildSA)(d) && !heldB {
					heldB = true
					return true
				}
				return !tc.deleteFirst && fromA(d) && isRequest(wire.ExchangeInformational)(d)
			}
			p.a.rekeyIKENow(t)
			p.b.rekeyIKENow(t)
			p.net.run(t)
			p.net.release(fromB)
			p.net.run(t)
			p.net.hold = nil
			p.net.release(nil)
			p.net.run(t)

			p.settle(t)
			p.checkUp(t, kernel.ModeTunnel)
			after := p.a.only(t)
			if after.SPIi == before.SPIi || !after.Initiator || p.b.only(t).Initiator {
				t.Fatalf("IKE SA %s/%s (initiator %v): want a's rekey to stand", after.SPIi, after.SPIr, after.Initiator)
			}
			if after.Children[0].InSPI != before.Children[0].InSPI {
				t.Errorf("the CHILD_SA changed with the IKE SA rekey")
			}
			if n := p.b.log.countLines(containing("the peer's stands")); !tc.deleteFirst && n != 1 {
				t.Errorf("b logged its refused rekey %d times, want 1", n)
			}
			noErrors(t, p.b)
			p.advance(t, SupersededDeleteDelay+time.Second)
			p.checkUp(t, kernel.ModeTunnel)
			if now := p.a.only(t); now.SPIi != after.SPIi {
				t.Fatalf("IKE SA changed after the collision settled: %s -> %s", after.SPIi, now.SPIi)
			}
		})
	}
}
