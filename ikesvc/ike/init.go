package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// initiate creates an IKE SA with p and sends IKE_SA_INIT.
func (e *Engine) initiate(p *peer) error {
	_, err := e.initiateTo(p, e.remoteOf(p), true)
	return err
}

// initiateTo creates an IKE SA with p at remote and sends IKE_SA_INIT;
// a reauthentication (reauth.go) passes initialContact false.
func (e *Engine) initiateTo(p *peer, remote netip.Addr, initialContact bool) (*ikeSA, error) {
	if e.cfg.LocalAddr == nil {
		return nil, errors.New("no way to choose a local address (Config.LocalAddr is nil)")
	}
	if !remote.IsValid() {
		return nil, errors.New("the peer's address is unknown (respond only)")
	}
	remote = remote.Unmap()
	local, err := e.cfg.LocalAddr(remote)
	if err != nil {
		return nil, fmt.Errorf("choosing a local address towards %v: %w", remote, err)
	}
	spi, err := e.newSPI()
	if err != nil {
		return nil, err
	}
	sa := &ikeSA{
		e: e, initiator: true, created: e.now(), peer: p, spiI: spi,
		local:  netip.AddrPortFrom(local.Unmap(), e.cfg.Port),
		remote: netip.AddrPortFrom(remote, e.cfg.Port),
	}
	sa.initialContact = initialContact && e.wantInitialContact(p)
	sa.timersInit()
	e.sas[spi] = sa
	e.log.Verbosef("ike: peer %s: initiating IKE SA %x from %v to %v", p.cfg.Name, spi, sa.local, sa.remote)
	return sa, sa.createInitRequest(firstGroup(p.cfg.IKE))
}

func firstGroup(ps []suite.Proposal) suite.DHGroup {
	for _, p := range ps {
		if len(p.DH) > 0 {
			return p.DH[0]
		}
	}
	return suite.DHNone
}

func offersGroup(ps []suite.Proposal, g suite.DHGroup) bool {
	for _, p := range ps {
		if slices.Contains(p.DH, g) {
			return true
		}
	}
	return false
}

func hashAlgorithmsNotify() *wire.Notify {
	var ids []uint16
	for _, h := range pki.SupportedHashAlgorithms() {
		ids = append(ids, uint16(h))
	}
	return notifyPayload(wire.NotifySignatureHashAlgorithms, wire.AppendHashAlgorithms(nil, ids...))
}

func natNotify(t wire.NotifyType, spiI, spiR uint64, addr netip.AddrPort) *wire.Notify {
	h := wire.NATDetectionHash(spiI, spiR, addr)
	return notifyPayload(t, h[:])
}

// createInitRequest sends IKE_SA_INIT with a KE of group (again after
// INVALID_KE_PAYLOAD or COOKIE, with message ID 0 each time).
func (sa *ikeSA) createInitRequest(group suite.DHGroup) error {
	ke, err := suite.NewKeyExchange(group, sa.e.rand)
	if err != nil {
		sa.close(true)
		return err
	}
	sa.ke = ke
	if sa.ni == nil {
		if sa.ni, err = sa.e.randomBytes(NonceLen); err != nil {
			sa.close(true)
			return err
		}
	}
	var payloads []wire.Payload
	if sa.cookie != nil {
		payloads = append(payloads, notifyPayload(wire.NotifyCookie, sa.cookie))
	}
	payloads = append(payloads,
		&wire.SA{Proposals: suite.WireProposals(sa.peer.cfg.IKE, nil)},
		&wire.KE{Group: uint16(group), Data: ke.PublicKey()},
		&wire.Nonce{Data: sa.ni},
		natNotify(wire.NotifyNATDetectionSourceIP, sa.spiI, 0, sa.local),
		natNotify(wire.NotifyNATDetectionDestinationIP, sa.spiI, 0, sa.remote),
		notifyPayload(wire.NotifyIKEv2FragmentationSupported, nil),
		hashAlgorithmsNotify(),
	)
	m := &wire.Message{Header: sa.header(wire.ExchangeIKESAInit, false), Payloads: payloads}
	sa.sendID = 0
	sa.state = StateInitSent
	sa.initRequest = sa.sendRequest(m, sa.consumeInitResponse)
	return nil
}

// consumeInitResponse handles the responder's IKE_SA_INIT answer.
func (sa *ikeSA) consumeInitResponse(m *wire.Message) {
	if n := m.FindNotify(wire.NotifyInvalidKEPayload); n != nil {
		if len(n.Data) != 2 {
			sa.fail("INVALID_KE_PAYLOAD without a group", true)
			return
		}
		g := suite.DHGroup(binary.BigEndian.Uint16(n.Data))
		if sa.keTries >= MaxInvalidKERetries || !offersGroup(sa.peer.cfg.IKE, g) || g == sa.ke.Group() {
			sa.fail(fmt.Sprintf("peer asks for DH group %v, which we do not offer or already sent", g), true)
			return
		}
		sa.keTries++
		sa.e.log.Verbosef("ike: peer %s: INVALID_KE_PAYLOAD, retrying with %v", sa.peerName(), g)
		if err := sa.createInitRequest(g); err != nil {
			sa.e.log.Errorf("ike: peer %s: retrying IKE_SA_INIT: %v", sa.peerName(), err)
		}
		return
	}
	if n := m.FindNotify(wire.NotifyCookie); n != nil {
		if sa.cookieTries >= MaxCookieRetries || len(n.Data) == 0 || len(n.Data) > 64 {
			sa.fail("peer keeps asking for a COOKIE", true)
			return
		}
		sa.cookieTries++
		sa.cookie = bytes.Clone(n.Data)
		sa.e.log.Verbosef("ike: peer %s: COOKIE requested, retrying IKE_SA_INIT", sa.peerName())
		if err := sa.createInitRequest(sa.ke.Group()); err != nil {
			sa.e.log.Errorf("ike: peer %s: retrying IKE_SA_INIT: %v", sa.peerName(), err)
		}
		return
	}
	for _, n := range m.Notifies() {
		if n.Type.IsError() {
			sa.fail("peer answered IKE_SA_INIT with "+n.Type.String(), true)
			return
		}
	}
	if err := sa.completeInit(m); err != nil {
		sa.fail("IKE_SA_INIT response: "+err.Error(), true)
		return
	}
	sa.state = StateAuthSent
	sa.queueRequest(wire.ExchangeIKEAuth, sa.createAuthRequest, sa.consumeAuthResponseReporting)
}

// completeInit checks the response's SA, KE and nonce and derives the keys.
func (sa *ikeSA) completeInit(m *wire.Message) error {
	saP, _ := m.Find(wire.PayloadSA).(*wire.SA)
	keP, _ := m.Find(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if saP == nil || keP == nil || nonce == nil {
		return errors.New("SA, KE or Nonce payload missing")
	}
	if m.ResponderSPI == 0 {
		return errors.New("responder SPI is zero")
	}
	choice, err := suite.Accept(sa.peer.cfg.IKE, saP.Proposals)
	if err != nil {
		return err
	}
	if choice.Suite.DH != sa.ke.Group() || suite.DHGroup(keP.Group) != sa.ke.Group() {
		return fmt.Errorf("responder chose %v with a KE of group %d, we sent %v", choice.Suite.DH, keP.Group, sa.ke.Group())
	}
	if len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		return fmt.Errorf("nonce of %d bytes", len(nonce.Data))
	}
	secret, err := sa.ke.SharedSecret(keP.Data)
	if err != nil {
		return err
	}
	sa.spiR = m.ResponderSPI
	sa.nr = bytes.Clone(nonce.Data)
	sa.suite = choice.Suite
	if err := sa.deriveKeys(secret); err != nil {
		return err
	}
	sa.readCapabilities(m)
	sa.detectNAT(m, sa.remote, sa.local)
	if sa.natLocal || sa.natRemote {
		// RFC 7296 2.23: float to the NAT-T port from IKE_AUTH on.
		sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.e.cfg.NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), sa.e.cfg.NATTPort)
		sa.e.log.Verbosef("ike: peer %s: NAT detected (local %v, remote %v), moving to %v", sa.peerName(), sa.natLocal, sa.natRemote, sa.remote)
	}
	return nil
}

func (sa *ikeSA) deriveKeys(secret []byte) error {
	keys, err := suite.DeriveIKEKeys(sa.suite, sa.ni, sa.nr, secret, sa.spiI, sa.spiR)
	if err != nil {
		return fmt.Errorf("deriving IKE keys: %w", err)
	}
	sa.keys = keys
	sa.out, sa.in, err = keys.Ciphers(sa.suite, sa.initiator, sa.e.rand)
	if err != nil {
		return fmt.Errorf("IKE SK ciphers: %w", err)
	}
	return nil
}

// readCapabilities notes the peer's fragmentation and signature hash support.
func (sa *ikeSA) readCapabilities(m *wire.Message) {
	sa.fragOK = m.FindNotify(wire.NotifyIKEv2FragmentationSupported) != nil
	if n := m.FindNotify(wire.NotifySignatureHashAlgorithms); n != nil {
		if ids, err := wire.ParseHashAlgorithms(n.Data); err == nil {
			for _, id := range ids {
				sa.peerHashes = append(sa.peerHashes, pki.HashAlgorithm(id))
			}
		}
	}
}

// detectNAT compares the peer's NAT_DETECTION hashes with the addresses
// the datagram really had: from (the peer) and to (us).
func (sa *ikeSA) detectNAT(m *wire.Message, from, to netip.AddrPort) {
	spiR := sa.spiR
	if !sa.initiator {
		spiR = 0 // the request was hashed before the responder SPI existed
	}
	var srcSeen, srcMatch, dstSeen, dstMatch bool
	for _, n := range m.Notifies() {
		switch n.Type {
		case wire.NotifyNATDetectionSourceIP:
			h := wire.NATDetectionHash(sa.spiI, spiR, from)
			srcSeen = true
			srcMatch = srcMatch || bytes.Equal(n.Data, h[:])
		case wire.NotifyNATDetectionDestinationIP:
			h := wire.NATDetectionHash(sa.spiI, spiR, to)
			dstSeen = true
			dstMatch = dstMatch || bytes.Equal(n.Data, h[:])
		}
	}
	sa.natRemote = srcSeen && !srcMatch
	sa.natLocal = dstSeen && !dstMatch
}

// consumeInitRequest is the responder's IKE_SA_INIT.
func (e *Engine) consumeInitRequest(h wire.Header, packet []byte, from, to netip.AddrPort) {
	// The entry stays for the SA's life, so even a late retransmission (or
	// a replay) gets the cached answer instead of creating a new SA.
	if old := e.halfOpen[halfOpenKey{h.InitiatorSPI, from}]; old != nil {
		if bytes.Equal(old.initRequest, packet) && old.initResponse != nil {
			e.log.Verbosef("ike: retransmitted IKE_SA_INIT from %v, resending our response", from)
			e.send(old.initResponse, old.local, old.remote)
		}
		return
	}
	load := e.loadFor(from.Addr())
	if e.blocked(load, from) || e.poolFull(load, from) {
		return
	}
	candidates := e.candidatePeers(from.Addr())
	if len(candidates) == 0 {
		e.malformed.note(e, "IKE_SA_INIT", from, reasonError{"no peer is configured for this address", ""})
		return
	}
	m, err := wire.Decode(packet, nil)
	if err != nil {
		e.malformed.note(e, "IKE_SA_INIT", from, err)
		if t, data, ok := wire.NotifyFor(err); ok {
			e.initError(h, t, data, from, to)
		}
		return
	}
	saP, _ := m.Find(wire.PayloadSA).(*wire.SA)
	keP, _ := m.Find(wire.PayloadKE).(*wire.KE)
	nonce, _ := m.Find(wire.PayloadNonce).(*wire.Nonce)
	if m.Encrypted || saP == nil || keP == nil || nonce == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		e.malformed.note(e, "IKE_SA_INIT", from, reasonError{"SA, KE or a 16-256 byte Nonce missing", ""})
		e.initError(h, wire.NotifyInvalidSyntax, nil, from, to)
		return
	}
	if !e.admitCookie(load, h, m, nonce.Data, from, to) {
		return
	}
	ours := candidates[0].cfg.IKE
	choice, err := suite.Select(ours, saP.Proposals, suite.DHGroup(keP.Group))
	if err != nil {
		e.malformed.note(e, "IKE_SA_INIT", from, reasonError{"no proposal chosen", "peer " + candidates[0].cfg.Name + ": " + err.Error()})
		e.initError(h, wire.NotifyNoProposalChosen, nil, from, to)
		return
	}
	if choice.Suite.DH != suite.DHGroup(keP.Group) {
		e.log.Verbosef("ike: IKE_SA_INIT from %v: KE of group %d, asking for %v", from, keP.Group, choice.Suite.DH)
		e.initError(h, wire.NotifyInvalidKEPayload, binary.BigEndian.AppendUint16(nil, uint16(choice.Suite.DH)), from, to)
		return
	}
	if !e.makeRoom(load, from) {
		return
	}
	ke, err := suite.NewKeyExchange(choice.Suite.DH, e.rand)
	if err != nil {
		e.log.Errorf("ike: IKE_SA_INIT from %v: %v", from, err)
		return
	}
	secret, err := ke.SharedSecret(keP.Data)
	if err != nil {
		e.malformed.note(e, "IKE_SA_INIT", from, reasonError{"unusable KE payload", err.Error()})
		e.initError(h, wire.NotifyInvalidSyntax, nil, from, to)
		return
	}
	spi, err := e.newSPI()
	if err != nil {
		e.log.Errorf("ike: IKE_SA_INIT from %v: %v", from, err)
		return
	}
	nr, err := e.randomBytes(NonceLen)
	if err != nil {
		e.log.Errorf("ike: IKE_SA_INIT from %v: %v", from, err)
		return
	}
	sa := &ikeSA{
		e: e, created: e.now(), candidates: candidates, spiI: h.InitiatorSPI, spiR: spi,
		local: to, remote: from, ni: bytes.Clone(nonce.Data), nr: nr, ke: ke, suite: choice.Suite,
		initRequest: packet, recvID: 1, lastReceived: e.now(),
	}
	if err := sa.deriveKeys(secret); err != nil {
		e.log.Errorf("ike: IKE_SA_INIT from %v: %v", from, err)
		return
	}
	sa.readCapabilities(m)
	sa.detectNAT(m, from, to)
	var certreq []byte
	for _, kh := range e.cfg.Trust.CAKeyHashes() {
		certreq = append(certreq, kh[:]...)
	}
	resp := &wire.Message{Header: sa.header(wire.ExchangeIKESAInit, true), Payloads: []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{choice.Wire(nil)}},
		&wire.KE{Group: uint16(choice.Suite.DH), Data: ke.PublicKey()},
		&wire.Nonce{Data: nr},
		natNotify(wire.NotifyNATDetectionSourceIP, sa.spiI, sa.spiR, to),
		natNotify(wire.NotifyNATDetectionDestinationIP, sa.spiI, sa.spiR, from),
		&wire.CertRequest{Encoding: wire.CertX509Signature, Data: certreq},
		notifyPayload(wire.NotifyIKEv2FragmentationSupported, nil),
		hashAlgorithmsNotify(),
	}}
	out, err := resp.Encode(nil)
	if err != nil {
		e.log.Errorf("ike: IKE_SA_INIT response to %v: %v", from, err)
		return
	}
	sa.initResponse = out
	sa.state = StateInitReplied
	sa.timersInit()
	sa.lifetime.Mod(e.halfOpenLifetime(load))
	e.sas[spi] = sa
	e.halfOpen[halfOpenKey{sa.spiI, from}] = sa
	e.log.Verbosef("ike: IKE_SA_INIT from %v: IKE SA %x with %v (NAT local %v remote %v)", from, spi, choice.Suite, sa.natLocal, sa.natRemote)
	e.send(out, to, from)
}

// initError answers an IKE_SA_INIT request with one error notify and
// keeps no state (RFC 7296 2.21.1).
func (e *Engine) initError(h wire.Header, t wire.NotifyType, data []byte, from, to netip.AddrPort) {
	m := &wire.Message{Header: wire.Header{InitiatorSPI: h.InitiatorSPI, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagResponse},
		Payloads: []wire.Payload{notifyPayload(t, data)}}
	if b, err := m.Encode(nil); err == nil {
		e.send(b, to, from)
	}
}

// candidatePeers are the peers that may own an IKE SA from addr: those
// configured with that address first, then the respond-only ones.
func (e *Engine) candidatePeers(addr netip.Addr) []*peer {
	addr = addr.Unmap()
	var exact, any []*peer
	for _, p := range e.peers {
		switch {
		case p.cfg.Remote.Unmap() == addr:
			exact = append(exact, p)
		case !p.cfg.Remote.IsValid():
			any = append(any, p)
		}
	}
	byName := func(a, b *peer) int { return cmpString(a.cfg.Name, b.cfg.Name) }
	slices.SortFunc(exact, byName)
	slices.SortFunc(any, byName)
	return append(exact, any...)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
