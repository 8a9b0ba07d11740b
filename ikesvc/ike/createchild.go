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
// deleted, so traffic never meets a missing SA.
func (sa *ikeSA) rekeyChild(c *childSA) {
	if c.rekeying || sa.state != StateEstablished {
		return
	}
	if sa.rekeyingIKE {
		c.rekey.Mod(rekeyPostpone)
		return
	}
	c.rekeying = true
	var next *childSA
	sa.queueRequest(wire.ExchangeCreateChildSA, func() []wire.Payload {
		n, payloads, err := sa.proposeChild(false, c)
		if err != nil {
			sa.e.log.Errorf("ike: peer %s: cannot rekey CHILD_SA %08x: %v", sa.peerName(), c.inSPI, err)
			c.rekeying = false
			c.rekey.Mod(rekeyRetry)
			return nil
		}
		next = n
		rekey := &wire.Notify{Protocol: wire.ProtocolESP, SPI: spiBytes(c.inSPI), Type: wire.NotifyRekeySA}
		return append([]wire.Payload{rekey}, payloads...)
	}, func(m *wire.Message) {
		c.rekeying = false
		nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
		err := childError(m)
		if err == nil && (nonce == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256) {
			err = errBadNonce
		}
		if err == nil {
			err = sa.completeChild(next, m, true, next.ni, bytes.Clone(nonce.Data))
		}
		if err != nil {
			sa.e.log.Errorf("ike: peer %s: rekeying CHILD_SA %08x failed: %v; retrying in %v", sa.peerName(), c.inSPI, err, rekeyRetry)
			c.rekey.Mod(rekeyRetry)
			return
		}
		sa.e.log.Verbosef("ike: peer %s: CHILD_SA %08x rekeyed as %08x", sa.peerName(), c.inSPI, next.inSPI)
		sa.deleteChild(c)
	})
}

// deleteChild asks the peer to delete c and removes it once confirmed.
func (sa *ikeSA) deleteChild(c *childSA) {
	c.rekey.Del()
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
		if old = sa.childByOutSPI(spi); old == nil {
			sa.e.log.Errorf("ike: peer %s: rekey of unknown CHILD_SA %08x", sa.peerName(), spi)
			sa.respond(m, []wire.Payload{&wire.Notify{Protocol: wire.ProtocolESP, SPI: n.SPI, Type: wire.NotifyChildSANotFound}})
			return
		}
	}
	nr, err := sa.e.randomBytes(NonceLen)
	if err != nil {
		sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyTemporaryFailure, nil)})
		return
	}
	payloads, c, fail := sa.acceptChild(m, false, bytes.Clone(nonce.Data), nr, old)
	if fail != nil {
		sa.respond(m, []wire.Payload{fail})
		return
	}
	sa.addChild(c)
	if old != nil {
		// The peer deletes the old one; do not rekey it ourselves meanwhile.
		old.rekey.Del()
	}
	sa.respond(m, payloads)
}
