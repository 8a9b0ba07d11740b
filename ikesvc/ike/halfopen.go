package ike

import (
	"net/netip"
	"time"
)

// Half-open admission, after strongSwan's init_limit_half_open,
// block_threshold and cookie_threshold_ip: one global COOKIE threshold
// and cap do not survive an attacker who answers COOKIEs from real
// addresses, because such an attacker fills the cap and every other
// initiator is then refused. So the responder also counts half-open SAs
// per source address:
//
//   - a source holding Config.CookieThresholdIP half-open SAs must send a
//     valid COOKIE even while the engine as a whole is not under load;
//   - a source holding Config.BlockThreshold is over its share: its new
//     requests are dropped, it cannot take the pool from the others;
//   - the cap (Config.HalfOpenLimit) counts only sources that are no
//     configured peer's address. A configured peer's address has a reserve
//     of its own, BlockThreshold half-open SAs, so a flood from elsewhere
//     never locks it out; spoofing that address gets past the COOKIE only
//     on the path, and at its reserve the source's own oldest half-open SA
//     gives way to a new one that proved its address;
//   - at the cap, a request that proved its address (a valid COOKIE)
//     evicts first a half-open SA that outlived HalfOpenTimeoutUnderLoad,
//     then the oldest one of the source holding the most, when that source
//     holds more than its share (the cap divided among the sources) and
//     more than the newcomer; only when nothing can give way is the
//     request dropped unanswered;
//   - while the engine is under load (at the COOKIE threshold) new
//     half-open SAs live HalfOpenTimeoutUnderLoad instead of
//     HalfOpenTimeout: a real initiator sends IKE_AUTH within a round trip.
//
// Each condition is logged once per LoadLogInterval with a count.

// halfOpenLoad is what admission knows about the half-open responder SAs
// when a request from one source arrives.
type halfOpenLoad struct {
	total      int  // all half-open responder SAs
	pool       int  // those of sources that are no configured peer's address
	source     int  // those of the request's source address
	configured bool // the source is a configured peer's address
}

// loadLogs are the rate-limited reports of the admission decisions.
type loadLogs struct {
	cookieIP, block, evict, expired rateLog
}

// applyLoadDefaults fills the zero admission settings of c.
func (c *Config) applyLoadDefaults() {
	if c.CookieThreshold == 0 {
		c.CookieThreshold = DefaultCookieThreshold
	}
	if c.HalfOpenLimit == 0 {
		c.HalfOpenLimit = HalfOpenLimitFactor * DefaultCookieThreshold
		if c.CookieThreshold > 0 {
			c.HalfOpenLimit = HalfOpenLimitFactor * c.CookieThreshold
		}
	}
	if c.CookieThresholdIP == 0 {
		c.CookieThresholdIP = DefaultCookieThresholdIP
	}
	if c.BlockThreshold == 0 {
		c.BlockThreshold = DefaultBlockThreshold
	}
}

// isHalfOpen reports whether sa is a responder SA still waiting for IKE_AUTH.
func isHalfOpen(sa *ikeSA) bool { return sa.state == StateInitReplied && !sa.initiator }

// configuredAddr reports whether addr is the address of a configured peer.
func (e *Engine) configuredAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range e.peers {
		if p.cfg.Remote.IsValid() && p.cfg.Remote.Unmap() == addr {
			return true
		}
	}
	return false
}

// loadFor counts the half-open SAs as seen by a request from addr.
func (e *Engine) loadFor(addr netip.Addr) halfOpenLoad {
	addr = addr.Unmap()
	l := halfOpenLoad{configured: e.configuredAddr(addr)}
	for _, sa := range e.halfOpen {
		if !isHalfOpen(sa) {
			continue
		}
		l.total++
		src := sa.remote.Addr().Unmap()
		if src == addr {
			l.source++
		}
		if !e.configuredAddr(src) {
			l.pool++
		}
	}
	return l
}

// underLoad reports whether new requests must bring a COOKIE because of
// the engine's total load (not the source's).
func (e *Engine) underLoad(l halfOpenLoad) bool {
	return e.cfg.CookieThreshold >= 0 && l.total >= e.cfg.CookieThreshold
}

// cookieNeeded reports whether a request from a source with load l must
// carry a valid COOKIE: the engine is under load or at its cap, or the source holds
// CookieThresholdIP half-open SAs (always by the time it is at its
// BlockThreshold, so that only a source that proved its address can make
// its own SAs give way).
func (e *Engine) cookieNeeded(l halfOpenLoad) bool {
	if e.underLoad(l) || (!l.configured && e.cfg.HalfOpenLimit >= 0 && l.pool >= e.cfg.HalfOpenLimit) {
		return true // at the cap only a proven address may evict
	}
	perIP := e.cfg.CookieThresholdIP
	if e.cfg.BlockThreshold > 0 && (perIP < 0 || perIP > e.cfg.BlockThreshold) {
		perIP = e.cfg.BlockThreshold
	}
	return perIP >= 0 && l.source >= perIP
}

// blocked reports, and logs, that a source other than a configured peer
// already holds its share of half-open SAs: its request is dropped.
func (e *Engine) blocked(l halfOpenLoad, from netip.AddrPort) bool {
	if l.configured || e.cfg.BlockThreshold < 0 || l.source < e.cfg.BlockThreshold {
		return false
	}
	e.loadLog.block.note(e, "ike: %v holds %d half-open IKE SAs, its limit: dropping its IKE_SA_INIT requests", from.Addr(), l.source)
	return true
}

// poolFull reports, and logs, that a request from outside the configured
// peers' addresses meets the cap and nothing could give way to it: it is
// dropped unanswered, before any COOKIE work.
func (e *Engine) poolFull(l halfOpenLoad, from netip.AddrPort) bool {
	limit := e.cfg.HalfOpenLimit
	if l.configured || limit < 0 || l.pool < limit || e.evictionVictim(l, from.Addr()) != nil {
		return false
	}
	e.capLog.note(e, "ike: %d half-open IKE SAs, the limit: dropping new IKE_SA_INIT requests unanswered", l.pool)
	return true
}

// makeRoom frees a place for a request that proved its address, when its
// source is at its reserve (a configured peer's address) or the pool is at
// the cap. It reports whether the request may create its SA.
func (e *Engine) makeRoom(l halfOpenLoad, from netip.AddrPort) bool {
	if l.configured {
		if e.cfg.BlockThreshold < 0 || l.source < e.cfg.BlockThreshold {
			return true
		}
		victim := e.oldestHalfOpen(func(sa *ikeSA) bool { return sa.remote.Addr().Unmap() == from.Addr().Unmap() })
		if victim != nil {
			e.evict(victim, "its source, a configured peer's address, is at its reserve")
		}
		return true
	}
	limit := e.cfg.HalfOpenLimit
	if limit < 0 || l.pool < limit {
		return true
	}
	victim := e.evictionVictim(l, from.Addr())
	if victim == nil {
		e.capLog.note(e, "ike: %d half-open IKE SAs, the limit: dropping new IKE_SA_INIT requests unanswered", l.pool)
		return false
	}
	e.evict(victim, "the half-open limit is reached")
	return true
}

// evictionVictim picks the pool's half-open SA that gives way to a request
// from addr at the cap: one older than HalfOpenTimeoutUnderLoad, else the
// oldest of the heaviest source when it is over its share and holds more
// than addr would with its new SA. nil: nothing may give way.
func (e *Engine) evictionVictim(l halfOpenLoad, addr netip.Addr) *ikeSA {
	addr = addr.Unmap()
	pooled := func(sa *ikeSA) bool { return !e.configuredAddr(sa.remote.Addr()) }
	now := e.now()
	if stale := e.oldestHalfOpen(pooled); stale != nil && now.Sub(stale.created) >= HalfOpenTimeoutUnderLoad {
		return stale
	}
	counts := map[netip.Addr]int{}
	for _, sa := range e.halfOpen {
		if isHalfOpen(sa) && pooled(sa) {
			counts[sa.remote.Addr().Unmap()]++
		}
	}
	var heavy netip.Addr
	for a, n := range counts {
		if n > counts[heavy] || (n == counts[heavy] && a.Less(heavy)) {
			heavy = a
		}
	}
	share := max(1, e.cfg.HalfOpenLimit/max(1, len(counts)))
	if !heavy.IsValid() || heavy == addr || counts[heavy] <= share || counts[heavy] <= l.source+1 {
		return nil
	}
	return e.oldestHalfOpen(func(sa *ikeSA) bool { return sa.remote.Addr().Unmap() == heavy })
}

// oldestHalfOpen is the oldest half-open responder SA that match accepts.
func (e *Engine) oldestHalfOpen(match func(*ikeSA) bool) *ikeSA {
	var old *ikeSA
	for _, sa := range e.halfOpen {
		if isHalfOpen(sa) && match(sa) && (old == nil || sa.created.Before(old.created) ||
			(sa.created.Equal(old.created) && sa.spiR < old.spiR)) {
			old = sa
		}
	}
	return old
}

// evict drops a half-open SA to make room; the initiator is told nothing
// (it never authenticated), the drop is counted in a load report.
func (e *Engine) evict(sa *ikeSA, why string) {
	e.loadLog.evict.noteCounting(e, "SAs", "ike: evicting half-open IKE SAs (%v's, %s)", sa.remote.Addr(), why)
	sa.close(false)
}

// halfOpenLifetime is how long a new half-open SA may wait for IKE_AUTH.
func (e *Engine) halfOpenLifetime(l halfOpenLoad) time.Duration {
	if e.underLoad(l) {
		return HalfOpenTimeoutUnderLoad
	}
	return HalfOpenTimeout
}

// expiredHalfOpenQuietly drops a half-open SA whose IKE_AUTH never came,
// reported in a load report: under a flood, one line per SA would be
// thousands.
func (sa *ikeSA) expiredHalfOpenQuietly() {
	sa.e.loadLog.expired.noteCounting(sa.e, "SAs", "ike: half-open IKE SAs expired without IKE_AUTH (the last from %v after %v)",
		sa.remote.Addr(), sa.e.now().Sub(sa.created).Round(time.Millisecond))
	sa.close(false)
}
