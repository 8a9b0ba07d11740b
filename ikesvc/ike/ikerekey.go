package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// rekeyIKE starts a CREATE_CHILD_SA that replaces the IKE SA (RFC 7296
// 2.18): the CHILD_SAs move to the new IKE SA, then the old one is deleted.
// The responder's later timer makes simultaneous rekeys rare; when both
// ends rekey at once anyway, collision.go keeps one new IKE SA by nonce
// comparison (2.8.2). A superseded SA the peer failed to delete within
// SupersededDeleteDelay is deleted here instead of being rekeyed.
func (sa *ikeSA) rekeyIKE() {
	if sa.superseded && sa.handedTo == nil && sa.onlyEstablished() {
		// What superseded it is gone (a reauthentication or a duplicate
		// that was deleted instead): it carries the peer's traffic alone.
		sa.e.log.Verbosef("ike: peer %s: superseded IKE SA %x is the peer's last one; keeping it", sa.peerName(), sa.ourSPI())
		sa.superseded = false
		sa.ikeRekey.Mod(rekeyRetry)
		return
	}
	if sa.superseded {
		if sa.state == StateEstablished {
			sa.e.log.Verbosef("ike: peer %s: the peer did not delete superseded IKE SA %x within %v", sa.peerName(), sa.ourSPI(), SupersededDeleteDelay)
			sa.delete()
		}
		return
	}
	if sa.rekeyingIKE || sa.state != StateEstablished || sa.peer == nil {
		return
	}
	if sa.reauthing != nil {
		// The reauthentication replaces this IKE SA anyway.
		sa.ikeRekey.Mod(rekeyPostpone)
		return
	}
	if sa.pending != nil || len(sa.queue) > 0 || sa.childRekeying() {
		// Requests in flight belong to this SA: let them finish first.
		sa.ikeRekey.Mod(rekeyPostpone)
		return
	}
	sa.rekeyingIKE = true
	var next *ikeSA
	var ni []byte
	var ke suite.KeyExchange
	sa.queueRequest(wire.ExchangeCreateChildSA, func() []wire.Payload {
		spi, err := sa.e.newSPI()
		if err == nil {
			ni, err = sa.e.randomBytes(NonceLen)
		}
		if err == nil {
			ke, err = suite.NewKeyExchange(sa.suite.DH, sa.e.rand)
		}
		if err != nil {
			sa.e.log.Errorf("ike: peer %s: cannot rekey IKE SA %x: %v", sa.peerName(), sa.ourSPI(), err)
			sa.rekeyingIKE = false
			sa.ikeRekey.Mod(rekeyRetry)
			return nil
		}
		next = sa.successor(true, spi)
		next.ni, next.ke = ni, ke // saved state resumes the exchange with them
		// Reserve the SPI so the peer's messages for it are not "unknown".
		sa.e.sas[spi] = next
		sa.successorSA = next
		return []wire.Payload{
			&wire.SA{Proposals: suite.WireProposals(sa.peer.cfg.IKE, binary.BigEndian.AppendUint64(nil, spi))},
			&wire.Nonce{Data: ni},
			&wire.KE{Group: uint16(sa.suite.DH), Data: ke.PublicKey()},
		}
	}, func(m *wire.Message) { sa.consumeIKERekeyResponse(next, ni, ke, m) })
}

// consumeIKERekeyResponse completes our rekey of the IKE SA into next.
func (sa *ikeSA) consumeIKERekeyResponse(next *ikeSA, ni []byte, ke suite.KeyExchange, m *wire.Message) {
	sa.rekeyingIKE = false
	sa.successorSA = nil
	err := sa.completeIKERekey(next, m, ni, ke)
	if err != nil {
		delete(sa.e.sas, next.spiI)
		if sa.adoptPeerSuccessor() {
			sa.e.log.Verbosef("ike: peer %s: our IKE SA rekey failed (%v); the peer's stands", sa.peerName(), err)
			return
		}
		sa.e.log.Errorf("ike: peer %s: rekeying IKE SA %x failed: %v; retrying in %v", sa.peerName(), sa.ourSPI(), err, rekeyRetry)
		sa.ikeRekey.Mod(rekeyRetry)
		return
	}
	sa.ikeRekeyDone(next)
}

// rekeyPostpone is how long an IKE SA rekey waits for other exchanges,
// and a CHILD_SA rekey for an IKE SA rekey.
const rekeyPostpone = time.Second

func (sa *ikeSA) childRekeying() bool {
	for _, c := range sa.children {
		if c.rekeying {
			return true
		}
	}
	return false
}

// successor is a new IKE SA with sa's peer, addresses and identities; we
// own SPI spi and are its initiator when weInitiate.
func (sa *ikeSA) successor(weInitiate bool, spi uint64) *ikeSA {
	n := &ikeSA{
		e: sa.e, state: StateIdle, initiator: weInitiate, created: sa.e.now(), peer: sa.peer,
		local: sa.local, remote: sa.remote, natLocal: sa.natLocal, natRemote: sa.natRemote,
		fragOK: sa.fragOK, peerHashes: sa.peerHashes, localID: sa.localID, remoteID: sa.remoteID,
		remoteChain: sa.remoteChain, lastReceived: sa.e.now(), candidates: sa.candidates,
		lastSent: sa.lastSent, // the same peer: the old SA's traffic kept the NAT mapping
		reauthAt: sa.reauthAt, // a rekey does not reauthenticate
	}
	if weInitiate {
		n.spiI = spi
	} else {
		n.spiR = spi
	}
	n.retransmit = sa.e.newTimer(n.expiredRetransmit)
	n.lifetime = sa.e.newTimer(n.expiredHalfOpen)
	n.dpd = sa.e.newTimer(n.expiredDPD)
	n.ikeRekey = sa.e.newTimer(n.expiredIKERekey)
	n.keepalive = sa.e.newTimer(n.expiredSendKeepalive)
	n.reauth = sa.e.newTimer(n.expiredReauth)
	return n
}

func (sa *ikeSA) completeIKERekey(next *ikeSA, m *wire.Message, ni []byte, ke suite.KeyExchange) error {
	if err := childError(m); err != nil {
		return err
	}
	saP, _ := m.Find(wire.PayloadSA).(*wire.SA)
	keP, _ := m.Find(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if keP == nil || nonce == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		return errors.New("KE or a valid nonce missing")
	}
	choice, err := suite.Accept(sa.peer.cfg.IKE, saP.Proposals)
	if err != nil {
		return err
	}
	if len(choice.PeerSPI) != 8 || binary.BigEndian.Uint64(choice.PeerSPI) == 0 {
		return fmt.Errorf("new IKE SPI of %d bytes", len(choice.PeerSPI))
	}
	if choice.Suite.DH != ke.Group() || suite.DHGroup(keP.Group) != ke.Group() {
		return fmt.Errorf("responder chose %v with a KE of group %d, we sent %v", choice.Suite.DH, keP.Group, ke.Group())
	}
	secret, err := ke.SharedSecret(keP.Data)
	if err != nil {
		return err
	}
	next.spiR = binary.BigEndian.Uint64(choice.PeerSPI)
	return sa.keyIKESuccessor(next, choice.Suite, secret, ni, bytes.Clone(nonce.Data))
}

// keyIKESuccessor derives next's keys from sa's SK_d (RFC 7296 2.18).
func (sa *ikeSA) keyIKESuccessor(next *ikeSA, s suite.Suite, secret, ni, nr []byte) error {
	keys, err := suite.DeriveRekeyedIKEKeys(s, sa.suite.PRF, sa.keys.D, secret, ni, nr, next.spiI, next.spiR)
	if err != nil {
		return err
	}
	next.suite, next.keys, next.ni, next.nr = s, keys, ni, nr
	next.out, next.in, err = keys.Ciphers(s, next.initiator, sa.e.rand)
	return err
}

// establishSuccessor makes next, keyed by a rekey of sa, an established
// IKE SA of its own, still without CHILD_SAs.
func (sa *ikeSA) establishSuccessor(next *ikeSA) {
	next.state = StateEstablished
	next.established = sa.e.now()
	sa.e.sas[next.ourSPI()] = next
	next.timersEstablished()
}

// handOver moves the CHILD_SAs to next and makes it the established SA.
func (sa *ikeSA) handOver(next *ikeSA) {
	if next.state != StateEstablished {
		sa.establishSuccessor(next)
	}
	for _, c := range sa.children {
		c.rekey.Del()
		remaining := c.created.Add(c.rekeyAfter).Sub(sa.e.now())
		if c.superseded {
			remaining = SupersededDeleteDelay // still waiting for the peer's Delete
		}
		c.rekey = sa.e.newTimer(func() { next.rekeyChild(c) })
		c.rekey.Mod(max(remaining, 0))
		next.children = append(next.children, c)
	}
	sa.children = nil
	sa.handedTo = next
	sa.e.log.Verbosef("ike: peer %s: IKE SA %x rekeyed as %x", sa.peerName(), sa.ourSPI(), next.ourSPI())
}

// consumeIKERekeyRequest answers the peer's IKE SA rekey.
func (sa *ikeSA) consumeIKERekeyRequest(m *wire.Message, saP *wire.SA, nonce *wire.Nonce) {
	fail := func(t wire.NotifyType, data []byte, why string) {
		sa.e.log.Errorf("ike: peer %s: refused IKE SA rekey: %s", sa.peerName(), why)
		sa.respond(m, []wire.Payload{notifyPayload(t, data)})
	}
	keP, _ := m.Find(wire.PayloadKE).(*wire.KE)
	if keP == nil {
		fail(wire.NotifyInvalidSyntax, nil, "no KE payload")
		return
	}
	choice, err := suite.Select(sa.peer.cfg.IKE, saP.Proposals, suite.DHGroup(keP.Group))
	if err != nil {
		fail(wire.NotifyNoProposalChosen, nil, err.Error())
		return
	}
	if len(choice.PeerSPI) != 8 || binary.BigEndian.Uint64(choice.PeerSPI) == 0 {
		fail(wire.NotifyInvalidSyntax, nil, fmt.Sprintf("new IKE SPI of %d bytes", len(choice.PeerSPI)))
		return
	}
	if choice.Suite.DH != suite.DHGroup(keP.Group) {
		fail(wire.NotifyInvalidKEPayload, binary.BigEndian.AppendUint16(nil, uint16(choice.Suite.DH)), "KE of another group")
		return
	}
	ke, err := suite.NewKeyExchange(choice.Suite.DH, sa.e.rand)
	var secret []byte
	if err == nil {
		secret, err = ke.SharedSecret(keP.Data)
	}
	if err != nil {
		fail(wire.NotifyInvalidSyntax, nil, err.Error())
		return
	}
	spi, err := sa.e.newSPI()
	var nr []byte
	if err == nil {
		nr, err = sa.e.randomBytes(NonceLen)
	}
	if err != nil {
		fail(wire.NotifyTemporaryFailure, nil, err.Error())
		return
	}
	next := sa.successor(false, spi)
	next.spiI = binary.BigEndian.Uint64(choice.PeerSPI)
	if err := sa.keyIKESuccessor(next, choice.Suite, secret, bytes.Clone(nonce.Data), nr); err != nil {
		fail(wire.NotifyNoProposalChosen, nil, err.Error())
		return
	}
	sa.respond(m, []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{choice.Wire(binary.BigEndian.AppendUint64(nil, spi))}},
		&wire.Nonce{Data: nr},
		&wire.KE{Group: uint16(choice.Suite.DH), Data: ke.PublicKey()},
	})
	if sa.rekeyingIKE {
		// Both ends rekey at once (RFC 7296 2.8.2): the CHILD_SAs stay
		// here until our own exchange completes and the nonces decide.
		sa.e.log.Verbosef("ike: peer %s: IKE SA %x rekeyed by both ends at once", sa.peerName(), sa.ourSPI())
		sa.establishSuccessor(next)
		sa.peerSuccessor = next
		return
	}
	// The old SA stays until the peer deletes it; it has no children left.
	sa.handOver(next)
	sa.supersede()
}
