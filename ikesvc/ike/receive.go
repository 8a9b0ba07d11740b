package ike

import (
	"net/netip"

	"alixsec.dev/ikesvc/wire"
)

// HandlePacket consumes one IKE datagram (without the non-ESP marker)
// received from from on local address to. The Engine takes ownership of
// packet: decoding decrypts it in place. Bad input is dropped and logged;
// nothing a peer sends can make it panic.
func (e *Engine) HandlePacket(packet []byte, from, to netip.AddrPort) {
	e.lock()
	defer e.unlock()
	if e.closed {
		return
	}
	h, err := wire.ParseHeader(packet)
	if err != nil {
		e.log.Verbosef("ike: dropped datagram from %v: %v", from, err)
		return
	}
	if h.Exchange == wire.ExchangeIKESAInit && !h.IsResponse() {
		if !h.FromInitiator() || h.ResponderSPI != 0 || h.MessageID != 0 {
			e.log.Verbosef("ike: dropped malformed IKE_SA_INIT request from %v (flags %#x, SPIr %x, ID %d)", from, h.Flags, h.ResponderSPI, h.MessageID)
			return
		}
		e.consumeInitRequest(h, packet, from, to)
		return
	}
	ours, theirs := h.ResponderSPI, h.InitiatorSPI
	if !h.FromInitiator() {
		ours, theirs = h.InitiatorSPI, h.ResponderSPI
	}
	sa := e.sas[ours]
	if sa == nil || sa.initiator == h.FromInitiator() {
		e.log.Verbosef("ike: dropped %v from %v for unknown IKE SA %x", h.Exchange, from, ours)
		e.unknownIKESA(h, from, to)
		return
	}
	peerSPI := sa.spiR
	if !sa.initiator {
		peerSPI = sa.spiI
	}
	// An IKE_SA_INIT response carries the responder's SPI we have not yet
	// learnt; everything else must name both SPIs we know.
	if peerSPI != theirs && !(sa.state == StateInitSent && h.Exchange == wire.ExchangeIKESAInit) {
		e.log.Verbosef("ike: peer %s: dropped %v with SPI %x, expected %x", sa.peerName(), h.Exchange, theirs, peerSPI)
		return
	}
	sa.handle(h, packet, from, to)
}
