package ike

import (
	"fmt"
	"time"

	"alixsec.dev/ikesvc/wire"
)

// timer is a restartable one-shot timer whose callback runs under the
// engine lock and never after Del: a generation number makes a callback
// that lost the race against Del or Mod a no-op (the same guarantee
// wireguard-go's Timer gets from its own lock).
type timer struct {
	e       *Engine
	fire    func()
	gen     uint64
	pending bool
	stop    func() bool
	at      time.Time // when it fires, while pending (saved state keeps deadlines)
}

func (e *Engine) newTimer(fire func()) *timer { return &timer{e: e, fire: fire} }

// Mod (re)arms the timer to fire after d. Call with e.mu held.
func (t *timer) Mod(d time.Duration) {
	t.Del()
	t.pending = true
	t.at = t.e.now().Add(d)
	gen := t.gen
	t.stop = t.e.clock.AfterFunc(d, func() {
		t.e.lock()
		defer t.e.unlock()
		if t.gen != gen || !t.pending || t.e.closed {
			return
		}
		t.pending = false
		t.fire()
	})
}

// Del disarms the timer. Call with e.mu held.
func (t *timer) Del() {
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	t.pending = false
	t.gen++
}

// IsPending reports whether the timer is armed.
func (t *timer) IsPending() bool { return t.pending }

// timersInit arms the IKE SA's own timers: half-open expiry for a
// responder. Should be called after an SA is created.
func (sa *ikeSA) timersInit() {
	sa.retransmit = sa.e.newTimer(sa.expiredRetransmit)
	sa.lifetime = sa.e.newTimer(sa.expiredHalfOpen)
	sa.dpd = sa.e.newTimer(sa.expiredDPD)
	sa.ikeRekey = sa.e.newTimer(sa.expiredIKERekey)
	sa.keepalive = sa.e.newTimer(sa.expiredSendKeepalive)
	sa.reauth = sa.e.newTimer(sa.expiredReauth)
	if !sa.initiator {
		sa.lifetime.Mod(HalfOpenTimeout)
	}
}

// timersEstablished stops the half-open timer and starts DPD and, behind
// a NAT, the keepalives. Should be called after IKE_AUTH completes.
func (sa *ikeSA) timersEstablished() {
	sa.lifetime.Del()
	if d := sa.dpdInterval(); d > 0 {
		sa.dpd.Mod(d)
	}
	sa.timersKeepalive()
	if sa.peer != nil {
		d := sa.peer.cfg.ikeRekeyTime()
		if !sa.initiator {
			d += d / 10 // the initiator normally rekeys first
		} else {
			d -= sa.e.jitter(d)
		}
		sa.ikeRekey.Mod(d)
	}
	sa.timersReauth()
}

// expiredIKERekey replaces the IKE SA with a fresh one (RFC 7296 2.18).
func (sa *ikeSA) expiredIKERekey() {
	sa.rekeyIKE()
}

// timersStop disarms everything. Should be called when the SA closes.
func (sa *ikeSA) timersStop() {
	sa.retransmit.Del()
	sa.lifetime.Del()
	sa.dpd.Del()
	sa.ikeRekey.Del()
	sa.keepalive.Del()
	sa.reauth.Del()
	for _, c := range sa.children {
		c.rekey.Del()
	}
}

// expiredRetransmit resends the pending request, or declares the peer dead
// after RetransmitTries.
func (sa *ikeSA) expiredRetransmit() {
	req := sa.pending
	if req == nil {
		return
	}
	if req.tries >= RetransmitTries {
		why := fmt.Sprintf("%v request got no answer after %d retransmissions", req.exchange, req.tries)
		if sa.state == StateEstablished {
			sa.peerDead(why)
			return
		}
		sa.fail(why, true)
		return
	}
	req.tries++
	sa.e.log.Verbosef("ike: peer %s: retransmitting %v request %d (try %d)", sa.peerName(), req.exchange, req.id, req.tries)
	sa.sendAll(req.packets)
	sa.retransmit.Mod(RetransmitTimeout << req.tries)
	if req.tries == ProbeAfterTries {
		sa.probePeer(req)
	}
}

// expiredHalfOpen drops a responder SA whose IKE_AUTH never came.
func (sa *ikeSA) expiredHalfOpen() {
	if sa.state != StateEstablished {
		sa.expiredHalfOpenQuietly()
	}
}

// expiredDPD sends an empty INFORMATIONAL when the peer has been silent
// for a DPD interval (RFC 7296 2.4); its retransmissions decide liveness.
func (sa *ikeSA) expiredDPD() {
	d := sa.dpdInterval()
	if d <= 0 || sa.state != StateEstablished {
		return
	}
	idle := sa.e.clock.Now().Sub(sa.lastReceived)
	if idle < d {
		// Due one interval after the peer's last message, so a peer
		// that died is found within one interval of its last word.
		sa.dpd.Mod(d - idle)
		return
	}
	if sa.pending == nil && len(sa.queue) == 0 {
		sa.queueRequest(wire.ExchangeInformational, func() []wire.Payload { return nil }, func(*wire.Message) {})
	}
	sa.dpd.Mod(d)
}

// timersKeepalive arms the NAT-keepalive timer to fire one keepalive
// interval after the last datagram we sent to the peer, when we are behind
// a NAT (RFC 3948 2.3: the host behind the NAT keeps the mapping open).
// Should be called after an SA is established and after a keepalive.
func (sa *ikeSA) timersKeepalive() {
	d := sa.e.cfg.KeepaliveInterval
	if d <= 0 || !sa.natLocal || sa.state != StateEstablished {
		return
	}
	sa.keepalive.Mod(max(d-sa.e.now().Sub(sa.lastSent), 0))
}

// expiredSendKeepalive sends a NAT-keepalive, the single byte 0xFF, when
// nothing went to the peer for a keepalive interval; any other datagram
// we sent meanwhile postpones it.
func (sa *ikeSA) expiredSendKeepalive() {
	d := sa.e.cfg.KeepaliveInterval
	if d <= 0 || !sa.natLocal || sa.state != StateEstablished {
		return
	}
	if sa.e.now().Sub(sa.lastSent) >= d {
		ks, ok := sa.e.cfg.Transport.(KeepaliveSender)
		if !ok {
			if !sa.e.noKeepalive {
				sa.e.noKeepalive = true
				sa.e.log.Errorf("ike: peer %s: behind a NAT, but the transport cannot send NAT-keepalives", sa.peerName())
			}
			return
		}
		if err := ks.SendKeepalive(sa.local, sa.remote); err != nil {
			sa.e.log.Verbosef("ike: peer %s: sending a NAT-keepalive %v -> %v: %v", sa.peerName(), sa.local, sa.remote, err)
		}
		sa.lastSent = sa.e.now()
	}
	sa.timersKeepalive()
}
