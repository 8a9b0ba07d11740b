package ike

import (
	"net/netip"
	"time"

	"alixsec.dev/ikesvc/wire"
)

// Dead peers. An established IKE SA whose request (a DPD liveness check,
// a rekey, a Delete of a CHILD_SA) goes unanswered after all
// retransmissions has a dead peer, and PeerConfig.DPDAction says what
// follows once its SAs are gone:
//
//	clear    nothing more; a "start" peer comes back after RestartDelay
//	restart  initiate again at once
//	trap     install trap policies: the next packet for the peer initiates
//
// A respond-only peer (no configured address) is restarted or trapped at
// the address its dead IKE SA had.
//
// A peer that rebooted has no SAs: it answers our requests for the lost
// IKE SA with an unprotected INVALID_IKE_SPI (RFC 7296 2.21.4), and so do
// we for requests of IKE SAs we do not know. RFC 7296 treats the notify
// as a hint only (anyone who saw the SPIs could forge it), so the first
// one makes us retransmit at once, and only a second one for the same
// request, with no authenticated answer in between, declares the peer
// dead: within a round trip instead of the 31 s of retransmissions. An
// attacker on the path who can forge it could as well drop the answers.
// The boards' own reboot is handled the other way round: a "start" or
// "trap" peer that sends us a request for an unknown IKE SA is initiated
// at once, since the peer evidently still runs SAs we lost.

// At most invalidSPIBurst INVALID_IKE_SPI notifications go to one address
// per invalidSPIInterval (RFC 7296 2.21.4 asks to rate-limit them): enough
// for a peer's liveness check and its immediate retransmission.
const (
	invalidSPIInterval = time.Second
	invalidSPIBurst    = 4
)

// invalidSPIWindow counts the notifications sent to one address.
type invalidSPIWindow struct {
	start time.Time
	n     int
}

// remoteOf is where we initiate to p: its configured address or, for a
// respond-only peer, the address its last dead IKE SA had.
func (e *Engine) remoteOf(p *peer) netip.Addr {
	if p.cfg.Remote.IsValid() {
		return p.cfg.Remote.Unmap()
	}
	return p.lastRemote
}

// trapped reports whether p needs trap policies when it has no SAs.
func (p *peer) trapped() bool {
	return p.cfg.StartAction == StartTrap || p.dpdTrap
}

// peerDead closes an established IKE SA whose peer stopped answering and
// carries out the peer's DPD action.
func (sa *ikeSA) peerDead(why string) {
	p := sa.peer
	if sa.state == StateClosed {
		return
	}
	if p == nil || p.removed {
		sa.fail(why, false)
		return
	}
	action := p.cfg.DPDAction
	sa.e.log.Errorf("ike: peer %s: IKE SA %x: %s: the peer is dead (dpd-action %v)", sa.peerName(), sa.ourSPI(), why, action)
	if !p.cfg.Remote.IsValid() {
		p.lastRemote = sa.remote.Addr()
	}
	sa.close(action == DPDClear)
	for _, o := range sa.e.sasOf(p) {
		if o.state == StateEstablished {
			return // another IKE SA of the peer (a reauthentication) lives on
		}
	}
	switch action {
	case DPDRestart:
		sa.e.log.Verbosef("ike: peer %s: restarting at once (dpd-action restart)", p.cfg.Name)
		sa.e.startPeer(p)
	case DPDTrap:
		if !p.dpdTrap {
			p.dpdTrap = true
			sa.e.log.Verbosef("ike: peer %s: trap policies installed (dpd-action trap): traffic initiates", p.cfg.Name)
		}
		sa.e.syncKernel()
	}
}

// probePeer starts a liveness probe of sa's peer, whose answer to req is
// ProbeAfterTries retransmissions late: a fresh IKE SA, as a
// make-before-break reauthentication (reauth.go), next to sa, whose
// CHILD_SAs carry on. A peer that rebooted answers the handshake but
// never req (strongSwan says nothing about IKE SAs it does not know):
// once the new IKE SA carries the CHILD_SAs, sa goes at once
// (reauthEstablished), within a handshake of the probe instead of the 31
// s of req's retransmissions. A live peer whose answer was just late
// ends up reauthenticated, without loss; a dead one answers neither, and
// req's retransmissions decide as before. Only dpd-action restart peers
// are probed: the others asked for no new IKE SA after a dead one.
func (sa *ikeSA) probePeer(req *request) {
	p := sa.peer
	if sa.state != StateEstablished || sa.superseded || sa.reauthing != nil || sa.reauthOf != nil ||
		p == nil || p.removed || p.cfg.DPDAction != DPDRestart {
		return
	}
	n, err := sa.startReplacement(true)
	if err != nil {
		sa.e.log.Verbosef("ike: peer %s: cannot probe: %v", sa.peerName(), err)
		return
	}
	if n == nil {
		return
	}
	sa.e.log.Verbosef("ike: peer %s: %v request %d of IKE SA %x unanswered for %v: probing with IKE SA %x (make-before-break)",
		sa.peerName(), req.exchange, req.id, sa.ourSPI(), probeWait(), n.ourSPI())
}

// probeWait is how long a request waits for its answer before the probe.
func probeWait() time.Duration {
	return RetransmitTimeout * (1<<ProbeAfterTries - 1) // 0.5 s, doubling per try
}

// invalidIKESPIHint handles an unprotected INVALID_IKE_SPI answer to our
// pending request req: retransmit at once the first time, declare the
// peer dead the second.
func (sa *ikeSA) invalidIKESPIHint(req *request) {
	if sa.state != StateEstablished {
		return
	}
	req.invalidSPI++
	if req.invalidSPI == 1 {
		sa.e.log.Verbosef("ike: peer %s: %v request %d answered with INVALID_IKE_SPI: checking the peer at once", sa.peerName(), req.exchange, req.id)
		sa.sendAll(req.packets)
		sa.retransmit.Mod(RetransmitTimeout)
		return
	}
	sa.peerDead("the peer answered twice with INVALID_IKE_SPI (it lost the IKE SA; rebooted?)")
}

// isInvalidIKESPI reports whether packet is an unprotected response that
// carries INVALID_IKE_SPI.
func isInvalidIKESPI(h wire.Header, packet []byte) bool {
	if h.NextPayload != wire.PayloadNotify || !h.IsResponse() {
		return false
	}
	m, err := wire.Decode(packet, nil)
	return err == nil && !m.Encrypted && m.FindNotify(wire.NotifyInvalidIKESPI) != nil
}

// unknownIKESA handles a request for an IKE SA we do not have: answer
// INVALID_IKE_SPI (rate-limited per address) and, when the sender is a
// peer we initiate to, initiate now: it still has SAs we lost.
func (e *Engine) unknownIKESA(h wire.Header, from, to netip.AddrPort) {
	if h.IsResponse() || h.ResponderSPI == 0 {
		return // responses are never answered (RFC 7296 2.21.4)
	}
	now := e.now()
	w, ok := e.invalidSPISent[from.Addr()]
	if !ok || now.Sub(w.start) >= invalidSPIInterval {
		if !ok && len(e.invalidSPISent) >= 64 {
			for a, x := range e.invalidSPISent {
				if now.Sub(x.start) >= invalidSPIInterval {
					delete(e.invalidSPISent, a)
				}
			}
			if len(e.invalidSPISent) >= 64 {
				return // a flood from many addresses: stay quiet
			}
		}
		w = invalidSPIWindow{start: now}
	}
	if w.n >= invalidSPIBurst {
		return
	}
	w.n++
	e.invalidSPISent[from.Addr()] = w
	flags := wire.FlagResponse
	if !h.FromInitiator() {
		flags |= wire.FlagInitiator
	}
	m := &wire.Message{Header: wire.Header{InitiatorSPI: h.InitiatorSPI, ResponderSPI: h.ResponderSPI,
		Exchange: h.Exchange, Flags: flags, MessageID: h.MessageID},
		Payloads: []wire.Payload{notifyPayload(wire.NotifyInvalidIKESPI, nil)}}
	if b, err := m.Encode(nil); err == nil {
		e.send(b, to, from)
	}
	for _, p := range e.candidatePeers(from.Addr()) {
		if p.cfg.Remote.Unmap() != from.Addr().Unmap() || (p.cfg.StartAction != StartStart && !p.trapped()) {
			continue
		}
		if len(e.sasOf(p)) == 0 {
			e.log.Verbosef("ike: peer %s: %v request for an unknown IKE SA: the peer kept SAs we lost; initiating", p.cfg.Name, h.Exchange)
			p.restart.Del()
			e.startPeer(p)
		}
		return
	}
}
