package ike

import (
	"bytes"
	"encoding/binary"
	"time"

	"alixsec.dev/ikesvc/wire"
)

// rekeyRetry is how long a failed CHILD_SA rekey waits before trying again.
const rekeyRetry = time.Minute

// rekeyChild starts a CREATE_CHILD_SA that replaces c (RFC 7296 2.8): the
// new pair is installed next to the old one, and only then is the old one
// deleted, so traffic never meets a missing SA. When the peer rekeys c at
// the same time, collision.go decides which new pair stays. A superseded c
// whose Delete never came from the peer is deleted here instead.
func (sa *ikeSA) rekeyChild(c *childSA) {
	if c.rekeying || c.deleting || sa.state != StateEstablished || !sa.hasChild(c) {
		return
	}
	if c.superseded {
		sa.e.log.Verbosef("ike: peer %s: the peer did not delete superseded CHILD_SA %08x_i %08x_o within %v", sa.peerName(), c.inSPI, c.outSPI, SupersededDeleteDelay)
		sa.deleteChild(c, "superseded")
		return
	}
	if sa.rekeyingIKE || sa.reauthing != nil {
		c.rekey.Mod(rekeyPostpone)
		return
	}
	if sa.superseded && sa.handedTo == nil {
		return // the IKE SA and c go soon: the peer reauthenticated
	}
	c.rekeying = true
	var next *childSA
	sa.queueRequest(wire.ExchangeCreateChildSA, func() []wire.Payload {
		if c.superseded || c.deleting || !sa.hasChild(c) {
			// The peer rekeyed or deleted c while our request waited.
			c.rekeying = false
			return nil
		}
		n, payloads, err := sa.proposeChild(false, c)
		if err != nil {
			sa.e.log.Errorf("ike: peer %s: cannot rekey CHILD_SA %08x: %v", sa.peerName(), c.inSPI, err)
			c.rekeying = false
			c.rekey.Mod(rekeyRetry)
			return nil
		}
		next = n
		c.rekeySent, c.rekeyNext = true, n
		rekey := &wire.Notify{Protocol: wire.ProtocolESP, SPI: spiBytes(c.inSPI), Type: wire.NotifyRekeySA}
		return append([]wire.Payload{rekey}, payloads...)
	}, func(m *wire.Message) { sa.consumeChildRekeyResponse(c, next, m) })
}

// consumeChildRekeyResponse completes our rekey of c into next.
func (sa *ikeSA) consumeChildRekeyResponse(c, next *childSA, m *wire.Message) {
	c.rekeying, c.rekeySent, c.rekeyNext = false, false, nil
	ni := next.ni // completeChild clears it
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	err := childError(m)
	if err == nil && (nonce == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256) {
		err = errBadNonce
	}
	var nr []byte
	if err == nil {
		nr = bytes.Clone(nonce.Data)
		err = sa.completeChild(next, m, true, ni, nr)
	}
	// c lives where an IKE SA rekey meanwhile moved it.
	owner := sa.current()
	if err != nil {
		owner.releaseSPI(next)
		owner.childRekeyFailed(c, err)
		return
	}
	sa.e.log.Verbosef("ike: peer %s: CHILD_SA %08x rekeyed as %08x", sa.peerName(), c.inSPI, next.inSPI)
	owner.childRekeyDone(c, &rekeyOutcome{child: next, ni: ni, nr: nr})
}

// deleteChild asks the peer to delete c and removes it once confirmed.
// It sends one Delete per CHILD_SA, however often it is called.
func (sa *ikeSA) deleteChild(c *childSA, why string) {
	c.rekey.Del()
	if c.deleting {
		return
	}
	c.deleting = true
	sa.e.log.Verbosef("ike: peer %s: deleting CHILD_SA %08x_i %08x_o (%s)", sa.peerName(), c.inSPI, c.outSPI, why)
	sa.queueRequest(wire.ExchangeInformational, func() []wire.Payload {
		return []wire.Payload{&wire.Delete{Protocol: wire.ProtocolESP, SPIs: []uint32{c.inSPI}}}
	}, func(*wire.Message) {
		sa.removeChild(c)
		sa.e.syncKernel()
	})
}

// consumeCreateChildRequest answers a CREATE_CHILD_SA: a CHILD_SA rekey or
// a new CHILD_SA, or an IKE SA rekey.
func (sa *ikeSA) consumeCreateChildRequest(m *wire.Message) {
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	saP, _ := m.Find(wire.PayloadSA).(*wire.SA)
	if nonce == nil || saP == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		sa.e.log.Errorf("ike: peer %s: CREATE_CHILD_SA without SA or a valid nonce", sa.peerName())
		sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyInvalidSyntax, nil)})
		return
	}
	if len(saP.Proposals) > 0 && saP.Proposals[0].Protocol == wire.ProtocolIKE {
		sa.consumeIKERekeyRequest(m, saP, nonce)
		return
	}
	var old *childSA
	if n := m.FindNotify(wire.NotifyRekeySA); n != nil {
		if n.Protocol != wire.ProtocolESP || len(n.SPI) != 4 {
			sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyInvalidSyntax, nil)})
			return
		}
		spi := binary.BigEndian.Uint32(n.SPI)
		if old = sa.current().childByOutSPI(spi); old == nil {
			// Also the end of a benign race: we deleted it after our own
			// rekey while the peer's request was on its way (RFC 7296 2.25.1).
			sa.e.log.Verbosef("ike: peer %s: rekey of unknown CHILD_SA %08x", sa.peerName(), spi)
			sa.respond(m, []wire.Payload{&wire.Notify{Protocol: wire.ProtocolESP, SPI: n.SPI, Type: wire.NotifyChildSANotFound}})
			return
		}
		if old.deleting || old.superseded {
			// RFC 7296 2.25.1: a CHILD_SA on its way out is not rekeyed;
			// the peer learns of its successor or its Delete shortly.
			sa.e.log.Verbosef("ike: peer %s: refused rekey of CHILD_SA %08x_i %08x_o: it is being deleted", sa.peerName(), old.inSPI, old.outSPI)
			sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyTemporaryFailure, nil)})
			return
		}
	}
	nr, err := sa.e.randomBytes(NonceLen)
	if err != nil {
		sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyTemporaryFailure, nil)})
		return
	}
	ni := bytes.Clone(nonce.Data)
	payloads, c, fail := sa.acceptChild(m, false, ni, nr, old)
	if fail != nil {
		sa.respond(m, []wire.Payload{fail})
		return
	}
	owner := sa.current()
	owner.addChild(c)
	if old != nil {
		owner.childRekeyedByPeer(old, &rekeyOutcome{child: c, ni: ni, nr: nr})
	}
	sa.respond(m, payloads)
}
