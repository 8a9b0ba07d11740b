package ike

import (
	"slices"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// Kernel entries a previous run left behind that no restored SA owns: the
// SAs of discarded state (damaged, or not matching the configuration) and
// whatever a state-less restart finds. Dropping them at the first Apply
// would cut the peer's traffic until a new CHILD_SA is up; instead they
// stay in the desired set (make-before-break) until a new CHILD_SA of the
// same reqid has been installed for StaleReplaceDelay, or StaleGrace has
// passed without one.
const (
	// StaleGrace bounds how long leftover kernel entries wait for their
	// replacement. A peer we cannot initiate to (respond only) notices our
	// lost state only when its DPD (every 30 s by default) goes
	// unanswered through all retransmissions (31.5 s) and then comes back
	// with a new handshake: that fits, with room to spare.
	StaleGrace = 2 * time.Minute
	// StaleReplaceDelay is how long leftovers overlap the new CHILD_SA of
	// their reqid: packets the peer sent on the old SA are still in flight,
	// and a peer told by INITIAL_CONTACT moves to the new SA meanwhile.
	StaleReplaceDelay = 2 * time.Second
)

// staleGroup is the leftover entries of one reqid.
type staleGroup struct {
	set   kernel.Set
	until time.Time
}

// adoptLeftovers keeps the owned kernel entries as stale, by reqid, except
// those of the reqids in drop (peers no longer configured).
func (e *Engine) adoptLeftovers(have kernel.Set, drop map[uint32]bool) {
	until := e.now().Add(StaleGrace)
	group := func(reqid uint32) *staleGroup {
		g := e.persist.stale[reqid]
		if g == nil {
			g = &staleGroup{until: until}
			e.persist.stale[reqid] = g
		}
		return g
	}
	for _, sa := range have.SAs {
		if !drop[sa.Reqid] {
			g := group(sa.Reqid)
			g.set.SAs = append(g.set.SAs, sa)
		}
	}
	for _, p := range have.Policies {
		var reqid uint32
		if p.Template != nil {
			reqid = p.Template.Reqid
		}
		if !drop[reqid] {
			g := group(reqid)
			g.set.Policies = append(g.set.Policies, p)
		}
	}
	e.armStale()
}

// staleReplaced notes a new CHILD_SA of reqid: its leftovers go soon.
// Should be called after a CHILD_SA is installed.
func (e *Engine) staleReplaced(reqid uint32) {
	g := e.persist.stale[reqid]
	if g == nil {
		return
	}
	if at := e.now().Add(StaleReplaceDelay); at.Before(g.until) {
		g.until = at
		e.armStale()
	}
}

// armStale sets the stale timer to the earliest deadline.
func (e *Engine) armStale() {
	if e.persist.staleTimer == nil {
		e.persist.staleTimer = e.newTimer(e.expiredStale)
	}
	var first time.Time
	for _, g := range e.persist.stale {
		if first.IsZero() || g.until.Before(first) {
			first = g.until
		}
	}
	if first.IsZero() {
		e.persist.staleTimer.Del()
		return
	}
	e.persist.staleTimer.Mod(max(first.Sub(e.now()), 0))
}

// expiredStale drops the leftovers whose time is up.
func (e *Engine) expiredStale() {
	now := e.now()
	dropped := 0
	for reqid, g := range e.persist.stale {
		if !now.Before(g.until) {
			delete(e.persist.stale, reqid)
			dropped += len(g.set.SAs)
		}
	}
	e.log.Verbosef("ike: removing %d kernel SAs left by the previous run", dropped)
	e.syncKernel()
	e.armStale()
}

// dropAllStale forgets every leftover (Close uninstalls everything).
func (e *Engine) dropAllStale() {
	e.persist.stale = map[uint32]*staleGroup{}
	if e.persist.staleTimer != nil {
		e.persist.staleTimer.Del()
	}
}

// addStale appends the leftovers to the desired set; live entries win
// where both have the same identity.
func (e *Engine) addStale(set *kernel.Set, addPolicy func(kernel.Policy)) {
	if len(e.persist.stale) == 0 {
		return
	}
	have := map[kernel.SAID]bool{}
	for _, sa := range set.SAs {
		have[sa.ID()] = true
	}
	reqids := make([]uint32, 0, len(e.persist.stale))
	for r := range e.persist.stale {
		reqids = append(reqids, r)
	}
	slices.Sort(reqids) // a fixed order: the first of equal policies wins
	for _, r := range reqids {
		for _, sa := range e.persist.stale[r].set.SAs {
			if !have[sa.ID()] {
				have[sa.ID()] = true
				set.SAs = append(set.SAs, sa)
			}
		}
	}
	for _, r := range reqids {
		for _, p := range e.persist.stale[r].set.Policies {
			addPolicy(p)
		}
	}
}
