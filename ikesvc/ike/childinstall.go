package ike

import (
	"encoding/binary"
	"slices"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// Make-before-break: when a CHILD_SA is replaced (a rekey, RFC 7296 2.8,
// or a reauthentication's new IKE SA with its own CHILD_SA) the kernel
// must at every moment hold, at the receiver, the SA the sender uses. The
// kernel sends on the newest SA of a reqid, so the order of installing is
// what moves traffic, as strongSwan does it:
//
//	initiator of the exchange            responder
//	  request ──────────────────────────▶ new inbound SA installed;
//	                                      its outbound waits (outPending)
//	  response ◀─────────────────────────
//	  new inbound and outbound installed:
//	  we now send on the new SA
//	  Delete(old) ──────────────────────▶ old SAs leave: the new outbound
//	                                      goes in, the old inbound lingers
//	  response ◀─────────────────────────
//	  old SAs leave, the old inbound lingers
//
// A responder's outbound SA waits while another installed SA carries the
// same traffic (same reqid and selectors); it goes in, in the same kernel
// update, as soon as that SA leaves, whichever way it leaves (the peer's
// Delete, our own after SupersededDeleteDelay, its IKE SA closing), or
// after PendingOutboundLimit: by then the initiator has long installed
// both halves, and a peer that never deletes the old SA (one that lost
// it without INITIAL_CONTACT) must not keep our traffic on it. An SA
// that leaves because a newer one carries its traffic keeps its inbound
// half in the kernel for RekeyedInboundGrace, so packets the peer sent on
// it just before it switched are still accepted (strongSwan's
// delete_rekeyed_delay). A hard expiry never lingers: the kernel already
// deleted the SA.

// RekeyedInboundGrace is how long the inbound SA of a replaced CHILD_SA
// stays in the kernel after it was deleted (strongSwan's default
// charon.delete_rekeyed_delay).
const RekeyedInboundGrace = 5 * time.Second

// PendingOutboundLimit is how long a responder's new outbound SA waits
// for the SA it replaces to leave before it is installed anyway.
const PendingOutboundLimit = 5 * time.Second

// lingerSA is the inbound half of a replaced CHILD_SA, kept until until.
type lingerSA struct {
	sa    kernel.SA
	until time.Time
}

// sameTraffic reports whether a and b protect the same traffic: a rekey
// or a reauthentication's replacement of the other.
func sameTraffic(a, b *childSA) bool {
	return a.reqid == b.reqid && a.mode == b.mode &&
		slices.Equal(a.tsLocal, b.tsLocal) && slices.Equal(a.tsRemote, b.tsRemote)
}

// liveChildren lists the CHILD_SAs of all IKE SAs, oldest IKE SA first.
func (e *Engine) liveChildren(sas []*ikeSA) []*childSA {
	var out []*childSA
	for _, sa := range sas {
		out = append(out, sa.children...)
	}
	return out
}

// promoteOutbound installs the waiting outbound SAs whose traffic no
// other installed SA carries any more. Should be called before a kernel
// set is built.
func (e *Engine) promoteOutbound(live []*childSA) {
	for _, c := range live {
		if !c.outPending {
			continue
		}
		carried := false
		for _, o := range live {
			if o != c && !o.outPending && sameTraffic(o, c) {
				carried = true
				break
			}
		}
		if !carried {
			c.outPending = false
			if c.outWait != nil {
				c.outWait.Del()
			}
			e.log.Verbosef("ike: CHILD_SA %08x_i %08x_o: outbound SA installed (the SA it replaces is gone)", c.inSPI, c.outSPI)
		}
	}
}

// retireChild notes that c left its IKE SA. When another CHILD_SA carries
// its traffic, c was replaced: its inbound SA lingers for
// RekeyedInboundGrace. The caller syncs the kernel.
func (e *Engine) retireChild(c *childSA) {
	if c.rekey != nil {
		c.rekey.Del()
	}
	if c.outWait != nil {
		c.outWait.Del()
	}
	if c.hardExpired || e.closed {
		return
	}
	for _, sa := range e.sas {
		for _, o := range sa.children {
			if o != c && sameTraffic(o, c) {
				e.lingering = append(e.lingering, lingerSA{sa: c.inSA, until: e.now().Add(RekeyedInboundGrace)})
				e.armLinger()
				return
			}
		}
	}
}

// timersOutbound limits how long c's outbound SA waits. Should be called
// when a CHILD_SA whose outbound is pending is added.
func (e *Engine) timersOutbound(c *childSA) {
	if !c.outPending {
		return
	}
	c.outWait = e.newTimer(func() {
		if !c.outPending {
			return
		}
		c.outPending = false
		e.log.Verbosef("ike: CHILD_SA %08x_i %08x_o: outbound SA installed after %v; the SA it replaces is still there", c.inSPI, c.outSPI, PendingOutboundLimit)
		e.syncKernel()
	})
	c.outWait.Mod(PendingOutboundLimit)
}

// armLinger sets the linger timer to the earliest deadline.
func (e *Engine) armLinger() {
	if len(e.lingering) == 0 {
		e.linger.Del()
		return
	}
	first := e.lingering[0].until
	for _, l := range e.lingering {
		if l.until.Before(first) {
			first = l.until
		}
	}
	e.linger.Mod(max(first.Sub(e.now()), 0))
}

// expiredLinger removes the inbound SAs whose grace has passed.
func (e *Engine) expiredLinger() {
	now := e.now()
	keep := e.lingering[:0]
	for _, l := range e.lingering {
		if now.Before(l.until) {
			keep = append(keep, l)
		}
	}
	changed := len(keep) != len(e.lingering)
	e.lingering = keep
	if changed {
		e.syncKernel()
	}
	e.armLinger()
}

// jitter is a random duration in [0, d/10): rekey and reauthentication
// times come that much early, so peers configured alike (and the boards
// of one site) do not all rekey in the same second.
func (e *Engine) jitter(d time.Duration) time.Duration {
	span := d / 10
	if span <= 0 {
		return 0
	}
	b, err := e.randomBytes(8)
	if err != nil {
		return 0
	}
	return time.Duration(binary.BigEndian.Uint64(b) % uint64(span))
}
