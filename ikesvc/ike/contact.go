package ike

// INITIAL_CONTACT (RFC 7296 2.4, 3.16). A host that lost its SAs (a
// reboot: the state in RAM is gone) says so in its first IKE_AUTH, and the
// peer drops the stale SAs with that identity at once instead of waiting
// for DPD. We send it in the first IKE_AUTH towards a peer after a cold
// start, and again after state about the peer was discarded, but not
// after a restart that restored the peer's SAs (the peer's SAs are ours)
// and never while we hold another IKE SA with the peer (a reauth).

// wantInitialContact reports whether a new IKE SA we initiate with p
// carries INITIAL_CONTACT. Should be called before the SA is added.
func (e *Engine) wantInitialContact(p *peer) bool {
	return !e.persist.contacted[p.cfg.Name] && len(e.sasOf(p)) == 0
}

// markContacted records that an IKE SA with sa's peer is established.
// Should be called after IKE_AUTH completes, in either role.
func (e *Engine) markContacted(sa *ikeSA) {
	if sa.peer != nil {
		e.persist.contacted[sa.peer.cfg.Name] = true
	}
}

// dropOthersOfIdentity follows an INITIAL_CONTACT in the IKE_AUTH that
// established sa: the peer asserts sa is the only IKE SA between our two
// identities, so every other one with its identity (and their CHILD_SAs
// and kernel entries) goes, without a Delete: the peer has forgotten
// them. Should be called after sa's CHILD_SA is installed, so the kernel
// never lacks an SA for the peer's traffic.
func (sa *ikeSA) dropOthersOfIdentity() {
	sa.e.log.Verbosef("ike: peer %s: INITIAL_CONTACT from %s", sa.peerName(), sa.remoteID)
	var old []*ikeSA
	for _, o := range sa.e.sas {
		if o != sa && o.state != StateClosed && o.remoteID.Type != 0 && o.remoteID.Equal(sa.remoteID) {
			old = append(old, o)
		}
	}
	for _, o := range old {
		sa.e.log.Verbosef("ike: peer %s: dropping old IKE SA %x of %s (INITIAL_CONTACT)", sa.peerName(), o.ourSPI(), sa.remoteID)
		o.peerSuccessor = nil // its children go too, to no successor
		o.noRestart = true
		o.close(false)
	}
}
