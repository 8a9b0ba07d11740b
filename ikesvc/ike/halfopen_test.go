package ike

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// openFrom sends B the n-th spoofed request from addr, answering a COOKIE
// the way a real initiator does, and reports what happened: "sa" (an
// IKE_SA_INIT response), "cookie" (asked for one even with the cookie)
// or "dropped" (no answer).
func openFrom(t *testing.T, p *pair, addr netip.Addr, n int) string {
	t.Helper()
	s := newSpoofInitFrom(addr, n)
	answers := s.sendTo(t, p, nil)
	if c, ok := cookieOnly(answers); ok {
		answers = s.sendTo(t, p, c)
		if _, again := cookieOnly(answers); again {
			return "cookie"
		}
	}
	switch {
	case len(answers) == 0:
		return "dropped"
	case len(answers) == 1 && answers[0].Find(wire.PayloadKE) != nil:
		return "sa"
	}
	t.Fatalf("request %d from %v: answers %+v", n, addr, answers)
	return ""
}

// halfOpenFrom counts B's half-open SAs from addr.
func halfOpenFrom(p *pair, addr netip.Addr) int {
	e := p.b.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loadFor(addr).source
}

// establishedWith reports whether B has an established IKE SA of peer.
func establishedWith(p *pair, peer string) bool {
	for _, st := range p.b.engine.Status(context.Background()) {
		if st.Peer == peer && st.State == StateEstablished.String() {
			return true
		}
	}
	return false
}

// TestHalfOpenPerSource: one source answering COOKIEs must show a cookie
// from its CookieThresholdIP-th half-open SA on, even while B is not under
// load, and is held to BlockThreshold SAs while others still get in.
func TestHalfOpenPerSource(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) {
		c.CookieThreshold, c.HalfOpenLimit, c.CookieThresholdIP, c.BlockThreshold = 100, 200, 2, 4
	}})
	p.configureB(t)
	attacker := spoofAddr(1)
	for i := 0; i < 4; i++ {
		s := newSpoofInitFrom(attacker, i)
		_, isCookie := cookieOnly(s.sendTo(t, p, nil))
		if want := i >= 2; isCookie != want {
			t.Fatalf("request %d of one source: COOKIE asked %v, want %v", i, isCookie, want)
		}
		if !isCookie {
			continue
		}
		if got := openFrom(t, p, attacker, 100+i); got != "sa" {
			t.Fatalf("request %d of one source with its COOKIE: %s, want an SA", i, got)
		}
	}
	if n := halfOpenFrom(p, attacker); n != 4 {
		t.Fatalf("the source holds %d half-open SAs, want its limit of 4", n)
	}
	for i := 0; i < 5; i++ {
		if got := openFrom(t, p, attacker, 200+i); got != "dropped" {
			t.Fatalf("request over the source's limit: %s, want dropped", got)
		}
	}
	if n := halfOpenFrom(p, attacker); n != 4 {
		t.Fatalf("the source holds %d half-open SAs after more requests, want 4", n)
	}
	if got := openFrom(t, p, spoofAddr(2), 300); got != "sa" {
		t.Fatalf("another source: %s, want an SA", got)
	}
	if n := p.b.log.count("its limit: dropping"); n != 1 {
		t.Errorf("the block was logged %d times, want once a minute", n)
	}
}

// TestHalfOpenEviction: at the cap, a newcomer that proved its address
// evicts the oldest SA of a source over its share, then stale SAs;
// without either it is dropped unanswered.
func TestHalfOpenEviction(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) {
		c.CookieThreshold, c.HalfOpenLimit, c.CookieThresholdIP, c.BlockThreshold = 100, 6, 100, 5
	}})
	p.configureB(t)
	heavy := spoofAddr(1)
	for i := 0; i < 5; i++ {
		if got := openFrom(t, p, heavy, i); got != "sa" {
			t.Fatalf("filling from one source: %s", got)
		}
	}
	if got := openFrom(t, p, spoofAddr(2), 10); got != "sa" {
		t.Fatalf("filling the pool: %s", got)
	}
	// The pool is full (6): 5 of one source, 1 of another. Newcomers
	// evict the heavy source's SAs while it holds more than its share (the
	// cap divided among the sources) and more than a newcomer would.
	for i, want := range []int{4, 3, 2, 1} {
		if got := openFrom(t, p, spoofAddr(3+i), 20+i); got != "sa" {
			t.Fatalf("newcomer %d at the cap: %s, want an SA", i, got)
		}
		if n := halfOpenFrom(p, heavy); n != want {
			t.Fatalf("after newcomer %d the heavy source holds %d, want %d", i, n, want)
		}
	}
	// Six sources with one SA each: nobody is over its share.
	if got := openFrom(t, p, spoofAddr(7), 30); got != "dropped" {
		t.Fatalf("newcomer with nobody over its share: %s, want dropped", got)
	}
	if halfOpenOf(p.b.engine) != 6 {
		t.Fatalf("%d half-open SAs, want the cap of 6", halfOpenOf(p.b.engine))
	}
	// Not under load, the SAs got HalfOpenTimeout; once they are older
	// than HalfOpenTimeoutUnderLoad they give way to newcomers.
	p.clock.Advance(HalfOpenTimeoutUnderLoad)
	if got := openFrom(t, p, spoofAddr(7), 32); got != "sa" {
		t.Fatalf("newcomer with stale SAs around: %s, want an SA", got)
	}
	if n := p.b.log.count("evicting half-open"); n != 1 {
		t.Errorf("evictions logged %d times, want once a minute", n)
	}
	if n := p.b.log.count("the limit: dropping"); n != 1 {
		t.Errorf("drops at the cap logged %d times, want once", n)
	}
}

// TestHalfOpenReserve: with the pool full of SAs from sources that answer
// COOKIEs, and the configured peer's own address flooded too, the
// configured peer still completes its handshake.
func TestHalfOpenReserve(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) {
		c.CookieThreshold, c.HalfOpenLimit = 2, 8
	}})
	p.configureB(t)
	for i := 0; halfOpenOf(p.b.engine) < 8; i++ {
		if i > 100 {
			t.Fatal("the pool does not fill")
		}
		openFrom(t, p, spoofAddr(i), i)
	}
	if got := openFrom(t, p, spoofAddr(500), 500); got != "dropped" {
		t.Fatalf("an unconfigured newcomer at the cap: %s, want dropped", got)
	}
	// Someone on the path answers COOKIEs from A's address up to its reserve.
	for i := 0; i < DefaultBlockThreshold; i++ {
		if got := openFrom(t, p, p.a.addr, 600+i); got != "sa" {
			t.Fatalf("request %d from the configured address: %s, want an SA", i, got)
		}
	}
	if _, err := p.a.engine.SetPeers([]PeerConfig{p.pa}); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	if !establishedWith(p, "a") {
		t.Fatalf("the configured peer did not get through: %+v", p.b.engine.Status(context.Background()))
	}
	if n := halfOpenFrom(p, p.a.addr); n != DefaultBlockThreshold-1 {
		t.Errorf("the configured address holds %d half-open SAs, want %d (its oldest gave way)", n, DefaultBlockThreshold-1)
	}
}

// TestHalfOpenLifetimeUnderLoad: SAs made while B is at its COOKIE
// threshold expire after HalfOpenTimeoutUnderLoad, the others keep
// HalfOpenTimeout; the expiries are one log line.
func TestHalfOpenLifetimeUnderLoad(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) {
		c.CookieThreshold, c.HalfOpenLimit = 2, 20
	}})
	p.configureB(t)
	for i := 0; i < 6; i++ {
		if got := openFrom(t, p, spoofAddr(i), i); got != "sa" {
			t.Fatalf("request %d: %s", i, got)
		}
	}
	p.clock.Advance(HalfOpenTimeoutUnderLoad + time.Millisecond)
	if n := halfOpenOf(p.b.engine); n != 2 {
		t.Fatalf("%d half-open SAs after %v, want the 2 made before the load", n, HalfOpenTimeoutUnderLoad)
	}
	p.clock.Advance(HalfOpenTimeout)
	if n := halfOpenOf(p.b.engine); n != 0 {
		t.Fatalf("%d half-open SAs after %v, want none", n, HalfOpenTimeout)
	}
	if n := p.b.log.count("expired without IKE_AUTH"); n != 1 {
		t.Errorf("expiries logged %d times, want once a minute", n)
	}
}
