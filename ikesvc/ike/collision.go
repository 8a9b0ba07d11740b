package ike

import "bytes"

// Rekey collisions (RFC 7296 2.8.1 for CHILD_SAs, 2.8.2 for the IKE SA).
// Both ends may start rekeying the same SA before either request arrives:
//
//	A                                   B
//	req1: REKEY_SA(a1) Ni1 ───┐   ┌─── req2: REKEY_SA(b1) Ni2
//	                          └───┼──▶ resp1: Nr1 (answered as usual)
//	resp2: Nr2 (as usual) ◀───────┘
//	resp1 arrives: both done          resp2 arrives: both done
//
// Each end answers the other's request as usual and records it on the old
// SA (childSA.peerRekey, ikeSA.peerSuccessor). Once its own exchange
// completes it knows all four nonces, and both ends reach the same
// verdict: the new SA created with the lowest nonce (octet by octet, a
// prefix being lower) is redundant. The end that initiated that exchange
// deletes it; the end that initiated the surviving one deletes the old SA.
// So each of the two SAs that go is deleted once, by one end; the other
// end marks them superseded and deletes them itself only if the peer's
// Delete has not come within SupersededDeleteDelay. The kernel holds the
// old and both new pairs until the Deletes complete, then one pair.
//
// When one end's exchange completes before the other's request reaches
// it, that end sees no collision: it deletes the old SA as after any rekey
// and answers the late request with TEMPORARY_FAILURE while its Delete is
// in flight, or CHILD_SA_NOT_FOUND once the SA is gone (RFC 7296 2.25).
// The other end's rekey then fails, and the first end's new SA stands.

// rekeyOutcome is a completed CHILD_SA rekey exchange: the new CHILD_SA
// and the exchange's nonces.
type rekeyOutcome struct {
	child  *childSA
	ni, nr []byte
}

// ourExchangeRedundant reports whether the SA created by our exchange
// (nonces ourNi, ourNr) is the redundant one of a collision with the
// peer's (peerNi, peerNr): the one with the lowest of the four nonces.
// Both ends compute it with the roles swapped and agree; the larger
// nonces break the tie the RFC leaves open (equal 16+ byte random nonces).
func ourExchangeRedundant(ourNi, ourNr, peerNi, peerNr []byte) bool {
	ourLow, ourHigh := ourNi, ourNr
	if bytes.Compare(ourNr, ourNi) < 0 {
		ourLow, ourHigh = ourNr, ourNi
	}
	peerLow, peerHigh := peerNi, peerNr
	if bytes.Compare(peerNr, peerNi) < 0 {
		peerLow, peerHigh = peerNr, peerNi
	}
	if c := bytes.Compare(ourLow, peerLow); c != 0 {
		return c < 0
	}
	return bytes.Compare(ourHigh, peerHigh) < 0
}

// childRekeyedByPeer records that we answered the peer's rekey of old
// with theirs. Should be called after the new CHILD_SA is installed.
func (sa *ikeSA) childRekeyedByPeer(old *childSA, theirs *rekeyOutcome) {
	if old.rekeySent {
		sa.e.log.Verbosef("ike: peer %s: CHILD_SA %08x_i %08x_o rekeyed by both ends at once", sa.peerName(), old.inSPI, old.outSPI)
		old.peerRekey = theirs
		return
	}
	// The peer deletes old; a rekey of ours still queued gives way.
	sa.supersedeChild(old)
}

// childRekeyDone follows our completed rekey of old (ours is installed):
// without a collision old is deleted; with one, the nonces decide.
func (sa *ikeSA) childRekeyDone(old *childSA, ours *rekeyOutcome) {
	theirs := old.peerRekey
	old.peerRekey = nil
	if theirs == nil || !sa.hasChild(theirs.child) {
		if sa.hasChild(old) {
			sa.deleteChild(old, "rekeyed")
		}
		return
	}
	if ourExchangeRedundant(ours.ni, ours.nr, theirs.ni, theirs.nr) {
		sa.e.log.Verbosef("ike: peer %s: rekey collision on CHILD_SA %08x: the peer's %08x stays", sa.peerName(), old.inSPI, theirs.child.inSPI)
		sa.deleteChild(ours.child, "redundant after a rekey collision")
		if sa.hasChild(old) {
			sa.supersedeChild(old)
		}
		return
	}
	sa.e.log.Verbosef("ike: peer %s: rekey collision on CHILD_SA %08x: our %08x stays", sa.peerName(), old.inSPI, ours.child.inSPI)
	sa.supersedeChild(theirs.child)
	if sa.hasChild(old) {
		sa.deleteChild(old, "rekeyed")
	}
}

// childRekeyFailed follows our failed rekey of c: the peer's colliding
// rekey, or its Delete of c, may have made ours moot; otherwise retry.
func (sa *ikeSA) childRekeyFailed(c *childSA, err error) {
	theirs := c.peerRekey
	c.peerRekey = nil
	switch {
	case !sa.hasChild(c):
		sa.e.log.Verbosef("ike: peer %s: rekey of CHILD_SA %08x ended (%v); the peer deleted it meanwhile", sa.peerName(), c.inSPI, err)
	case theirs != nil && sa.hasChild(theirs.child):
		sa.e.log.Verbosef("ike: peer %s: rekey of CHILD_SA %08x failed (%v); the peer's rekey as %08x stands", sa.peerName(), c.inSPI, err, theirs.child.inSPI)
		sa.supersedeChild(c)
	case c.deleting || c.superseded:
	default:
		sa.e.log.Errorf("ike: peer %s: rekeying CHILD_SA %08x failed: %v; retrying in %v", sa.peerName(), c.inSPI, err, rekeyRetry)
		c.rekey.Mod(rekeyRetry)
	}
}

// supersedeChild marks c as replaced by a newer CHILD_SA that the peer
// initiated: the peer deletes c, and we do if it has not done so within
// SupersededDeleteDelay (rekeyChild sees to that).
func (sa *ikeSA) supersedeChild(c *childSA) {
	c.superseded = true
	c.rekey.Mod(SupersededDeleteDelay)
}

// ikeRekeyDone follows our completed IKE SA rekey to next: without a
// collision the CHILD_SAs move to next and this SA is deleted; with one,
// the nonces decide which new IKE SA takes them.
func (sa *ikeSA) ikeRekeyDone(next *ikeSA) {
	theirs := sa.peerSuccessor
	sa.peerSuccessor = nil
	if theirs == nil || theirs.state != StateEstablished {
		sa.handOver(next)
		sa.delete()
		return
	}
	if ourExchangeRedundant(next.ni, next.nr, theirs.ni, theirs.nr) {
		sa.e.log.Verbosef("ike: peer %s: rekey collision on IKE SA %x: the peer's %x stays", sa.peerName(), sa.ourSPI(), theirs.ourSPI())
		sa.handOver(theirs)
		sa.supersede()
		sa.establishSuccessor(next)
		sa.e.log.Verbosef("ike: peer %s: deleting IKE SA %x (redundant after a rekey collision)", sa.peerName(), next.ourSPI())
		next.delete()
		return
	}
	sa.e.log.Verbosef("ike: peer %s: rekey collision on IKE SA %x: our %x stays", sa.peerName(), sa.ourSPI(), next.ourSPI())
	sa.handOver(next)
	theirs.supersede()
	sa.delete()
}

// adoptPeerSuccessor hands the CHILD_SAs to the IKE SA the peer's
// colliding rekey created, when our own rekey will not complete (it
// failed, or the peer deleted this SA first). It reports whether there
// was one to hand them to.
func (sa *ikeSA) adoptPeerSuccessor() bool {
	theirs := sa.peerSuccessor
	sa.peerSuccessor = nil
	if theirs == nil || theirs.state != StateEstablished {
		return false
	}
	sa.handOver(theirs)
	if sa.state == StateEstablished {
		sa.supersede()
	}
	return true
}

// supersede marks the IKE SA as replaced by one the peer initiated: the
// peer deletes it, and we do if it has not done so within
// SupersededDeleteDelay (rekeyIKE sees to that).
func (sa *ikeSA) supersede() {
	sa.superseded = true
	sa.ikeRekey.Mod(SupersededDeleteDelay)
}
