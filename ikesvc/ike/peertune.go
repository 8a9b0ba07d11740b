package ike

import "time"

// A commit that changes only how a peer's SAs are kept (timers, DPD,
// start action) changes nothing that was negotiated: the peer's SAs stay
// and the new values take effect in place, the timers at their next
// arming (a new rekey time with the next CHILD_SA, a new IKE rekey time
// with the next IKE SA), DPD and reauthentication at once (a new reauth
// time counts from the commit).

// sameNegotiation reports whether p and o differ at most in what retune
// can apply to running SAs.
func (p *PeerConfig) sameNegotiation(o *PeerConfig) bool {
	a, b := *p, *o
	for _, c := range []*PeerConfig{&a, &b} {
		c.DPDInterval, c.DPDAction, c.StartAction = 0, 0, 0
		c.RekeyTime, c.IKERekeyTime, c.ReauthTime = 0, 0, 0
	}
	return a.Equal(&b)
}

// retunePeer gives p the new config pc, which negotiates the same SAs,
// keeping the SAs. It reports whether p must now be started.
func (e *Engine) retunePeer(p *peer, pc PeerConfig) (start bool) {
	old := p.cfg
	p.cfg = pc
	e.log.Verbosef("ike: peer %s: timers or actions changed; its SAs stay", pc.Name)
	for _, sa := range e.sasOf(p) {
		if sa.state != StateEstablished {
			continue
		}
		if pc.DPDInterval != old.DPDInterval {
			sa.dpd.Del()
			if pc.DPDInterval > 0 {
				sa.dpd.Mod(pc.DPDInterval)
			}
		}
		if pc.ReauthTime != old.ReauthTime && !sa.superseded {
			sa.reauthAt = time.Time{} // counted again from now
			sa.reauth.Del()
			sa.timersReauth()
		}
	}
	p.dpdTrap = p.dpdTrap && pc.DPDAction == DPDTrap
	return pc.StartAction == StartStart && old.StartAction != StartStart
}
