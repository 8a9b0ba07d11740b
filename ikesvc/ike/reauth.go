package ike

// Reauthentication (PeerConfig.ReauthTime), make-before-break as
// strongSwan's make_before_break: at reauth time the IKE SA's peer is
// authenticated afresh with a new IKE_SA_INIT and IKE_AUTH, next to the
// old IKE SA, whose CHILD_SAs keep carrying the traffic. The new IKE
// SA's CHILD_SA protects the same traffic and, being the newest, takes
// our outbound traffic as soon as it is installed (the peer, as
// responder, installed its inbound half first; childinstall.go). Only
// then is the old IKE SA deleted: its CHILD_SAs leave the kernel, their
// inbound halves after RekeyedInboundGrace, and the new CHILD_SA's
// SAs stay. No INITIAL_CONTACT is sent, so the peer keeps the old SAs
// until our Delete.
//
// The responder of a reauthentication sees a second IKE SA of the same
// peer come up: it marks the older ones superseded (the peer deletes
// them, we do after SupersededDeleteDelay) and stops their reauth
// timers, and its new CHILD_SA's outbound SA waits for the old CHILD_SA
// to leave.
//
// The reauth time counts from the authentication: an IKE SA rekey
// (CREATE_CHILD_SA) does not restart it. The IKE SA's initiator
// reauthenticates up to 10% early (jitter), the responder 10% late, so
// with the same configuration only one end does.
//
// A reauthentication that fails (no answer, authentication refused, no
// CHILD_SA) leaves the old IKE SA as it is and is tried again after
// rekeyRetry.

// timersReauth arms the reauth timer. Should be called after an IKE SA
// is established (also a rekeyed one, which keeps its predecessor's
// deadline).
func (sa *ikeSA) timersReauth() {
	if sa.peer == nil || sa.peer.cfg.ReauthTime <= 0 {
		return
	}
	if sa.reauthAt.IsZero() {
		d := sa.peer.cfg.ReauthTime
		if sa.initiator {
			d -= sa.e.jitter(d)
		} else {
			d += d / 10
		}
		sa.reauthAt = sa.e.now().Add(d)
	}
	sa.reauth.Mod(max(sa.reauthAt.Sub(sa.e.now()), 0))
}

// expiredReauth starts the reauthentication: a new IKE SA with the peer.
func (sa *ikeSA) expiredReauth() {
	p := sa.peer
	if sa.state != StateEstablished || sa.superseded || sa.reauthing != nil || p == nil || p.removed {
		return
	}
	if sa.rekeyingIKE || sa.childRekeying() {
		sa.reauth.Mod(rekeyPostpone)
		return
	}
	n, err := sa.startReplacement(false)
	if err != nil {
		sa.e.log.Errorf("ike: peer %s: cannot reauthenticate IKE SA %x: %v; retrying in %v", sa.peerName(), sa.ourSPI(), err, rekeyRetry)
		sa.reauth.Mod(rekeyRetry)
		return
	}
	if n == nil {
		sa.reauth.Mod(rekeyRetry)
		return
	}
	sa.e.log.Verbosef("ike: peer %s: reauthenticating IKE SA %x as %x (make-before-break)", sa.peerName(), sa.ourSPI(), n.ourSPI())
}

// startReplacement initiates a new IKE SA with sa's peer, next to sa, and
// links it as sa's reauthentication (probe: a liveness probe, dpd.go). It
// returns nil when the new IKE SA failed at once.
func (sa *ikeSA) startReplacement(probe bool) (*ikeSA, error) {
	p := sa.peer
	remote := sa.remote.Addr()
	if p.cfg.Remote.IsValid() {
		remote = p.cfg.Remote.Unmap()
	}
	n, err := sa.e.initiateTo(p, remote, false)
	if err != nil || n.state == StateClosed {
		return nil, err
	}
	n.reauthOf, sa.reauthing, n.probe = sa, n, probe
	return n, nil
}

// reauthEstablished follows the new IKE SA's IKE_AUTH: the old IKE SA
// goes once the new one carries the CHILD_SA. Should be called when an
// initiator's IKE_AUTH exchange is done.
func (sa *ikeSA) reauthEstablished() {
	old := sa.reauthOf
	if old == nil {
		return
	}
	sa.reauthOf = nil
	if old.reauthing == sa {
		old.reauthing = nil
	}
	if old.state != StateEstablished {
		return // the old IKE SA went meanwhile: the new one stands alone
	}
	if sa.state != StateEstablished || (len(sa.children) == 0 && len(old.children) > 0) {
		sa.e.log.Errorf("ike: peer %s: reauthentication of IKE SA %x brought up no CHILD_SA; keeping the old one, retrying in %v", sa.peerName(), old.ourSPI(), rekeyRetry)
		sa.noRestart = true
		sa.delete()
		if !sa.probe {
			old.reauth.Mod(rekeyRetry)
		}
		return
	}
	old.noRestart = true
	if req := old.pending; req != nil && req.tries >= ProbeAfterTries {
		// The peer answered a whole new handshake but not the old IKE
		// SA's request: it lost that IKE SA (it rebooted). Waiting for
		// the request's retransmissions would only delay the Delete.
		sa.e.log.Errorf("ike: peer %s: answered IKE SA %x but not %v request %d of IKE SA %x: deleting that one now (the peer lost it, rebooted?)",
			sa.peerName(), sa.ourSPI(), req.exchange, req.id, old.ourSPI())
		old.sendDeleteOnce()
		old.close(false)
		return
	}
	sa.e.log.Verbosef("ike: peer %s: IKE SA %x reauthenticated as %x; deleting the old one", sa.peerName(), old.ourSPI(), sa.ourSPI())
	old.delete()
}

// reauthClosed unlinks a closing IKE SA from a reauthentication: a new
// IKE SA that failed lets the old one retry later.
func (sa *ikeSA) reauthClosed() {
	if old := sa.reauthOf; old != nil {
		sa.reauthOf = nil
		if old.reauthing == sa {
			old.reauthing = nil
			switch {
			case old.state != StateEstablished:
			case sa.probe:
				// The old IKE SA's retransmissions go on deciding.
				sa.e.log.Verbosef("ike: peer %s: probe %x of IKE SA %x got no IKE SA either", old.peerName(), sa.ourSPI(), old.ourSPI())
			default:
				sa.e.log.Errorf("ike: peer %s: reauthentication of IKE SA %x failed; keeping it, retrying in %v", old.peerName(), old.ourSPI(), rekeyRetry)
				old.reauth.Mod(rekeyRetry)
			}
		}
	}
	if n := sa.reauthing; n != nil {
		sa.reauthing, n.reauthOf = nil, nil
	}
}

// peerReauthenticated handles a responder IKE SA that came up while the
// peer has older ones (without INITIAL_CONTACT): the peer reauthenticated
// and deletes them; they are superseded, and deleted by us after
// SupersededDeleteDelay if the peer does not.
func (sa *ikeSA) peerReauthenticated() {
	for _, old := range sa.e.sasOf(sa.peer) {
		if old == sa || old.state != StateEstablished || old.superseded || old.reauthing != nil {
			continue
		}
		sa.e.log.Verbosef("ike: peer %s: IKE SA %x replaces %x (the peer reauthenticated)", sa.peerName(), sa.ourSPI(), old.ourSPI())
		old.reauth.Del()
		old.supersede()
	}
}

// onlyEstablished reports whether sa is its peer's only established IKE SA.
func (sa *ikeSA) onlyEstablished() bool {
	for _, o := range sa.e.sasOf(sa.peer) {
		if o != sa && o.state == StateEstablished {
			return false
		}
	}
	return sa.state == StateEstablished
}
