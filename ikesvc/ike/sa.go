package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// ikeSA is one IKE SA, as initiator or responder.
type ikeSA struct {
	e         *Engine
	state     State
	initiator bool
	created   time.Time
	// peer is the config the SA belongs to; a responder knows it for sure
	// only after IKE_AUTH, until then candidates lists the possible ones.
	peer       *peer
	candidates []*peer
	noRestart  bool // Terminate: do not restart a "start" peer

	spiI, spiR     uint64
	local, remote  netip.AddrPort
	natLocal       bool // we are behind a NAT
	natRemote      bool // the peer is behind a NAT
	fragOK         bool // peer announced IKEV2_FRAGMENTATION_SUPPORTED
	peerHashes     []pki.HashAlgorithm
	initialContact bool

	suite                suite.Suite
	keys                 suite.IKEKeys
	out, in              wire.SKCipher
	ni, nr               []byte
	ke                   suite.KeyExchange
	cookie               []byte
	keTries, cookieTries int
	// The raw IKE_SA_INIT messages, signed in AUTH (RFC 7296 2.15).
	initRequest, initResponse []byte

	localID, remoteID pki.Identity
	remoteChain       pki.Chain
	established       time.Time
	lastReceived      time.Time

	// Requests we send (window size 1).
	sendID  uint32
	pending *request
	queue   []queuedRequest
	// Requests we receive.
	recvID       uint32
	lastResponse [][]byte // nil until we answered a request; fragments when fragmented
	reqReasm     wire.Reassembler
	respReasm    wire.Reassembler

	children []*childSA
	// firstChild is the CHILD_SA an initiator proposes in IKE_AUTH.
	firstChild *childSA
	// outcomeWatchers wait for the end of the initiation (outcome.go).
	outcomeWatchers []func(Outcome)

	// lastSent is when we last sent the peer a datagram (NAT-keepalives
	// are due only after a silent keepalive interval).
	lastSent time.Time

	retransmit, lifetime, dpd, ikeRekey, keepalive *timer
	rekeyingIKE                                    bool
	// Reauthentication (reauth.go): reauthAt is the deadline, kept across
	// IKE SA rekeys; reauthing is the new IKE SA being set up to replace
	// this one, reauthOf the one a new IKE SA replaces.
	reauth              *timer
	reauthAt            time.Time
	reauthing, reauthOf *ikeSA
	// probe: this IKE SA is not a timed reauthentication of reauthOf but
	// a liveness probe of its peer, which left a request unanswered
	// (dpd.go).
	probe       bool
	successorSA *ikeSA // reserved while we rekey the IKE SA
	// peerSuccessor is the peer's rekey of this IKE SA, answered while our
	// own was in flight: a collision, resolved when ours completes
	// (collision.go). superseded: another IKE SA took over and the peer is
	// to delete this one (we do after SupersededDeleteDelay otherwise).
	peerSuccessor *ikeSA
	superseded    bool
	// handedTo is the IKE SA our CHILD_SAs moved to in a rekey: exchanges
	// still running here about CHILD_SAs finish there (RFC 7296 2.18).
	handedTo *ikeSA
}

type request struct {
	id       uint32
	exchange wire.ExchangeType
	packets  [][]byte // one datagram, or the fragments of one message
	tries    int
	handle   func(*wire.Message)
	// invalidSPI counts unprotected INVALID_IKE_SPI answers (dpd.go).
	invalidSPI int
	// payloads are the request's plaintext: saved state (persist.go) tells
	// from them which exchange to resume after a restart.
	payloads []wire.Payload
}

type queuedRequest struct {
	exchange wire.ExchangeType
	build    func() []wire.Payload
	handle   func(*wire.Message)
}

func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

// current is the IKE SA that now holds sa's CHILD_SAs: sa, or the end of
// its chain of rekeys.
func (sa *ikeSA) current() *ikeSA {
	for sa.handedTo != nil {
		sa = sa.handedTo
	}
	return sa
}

func (sa *ikeSA) peerName() string {
	if sa.peer != nil {
		return sa.peer.cfg.Name
	}
	return "(unknown, " + sa.remote.Addr().String() + ")"
}

func (sa *ikeSA) dpdInterval() time.Duration {
	if sa.peer == nil {
		return 0
	}
	return sa.peer.cfg.DPDInterval
}

// header is the header of a message we send; MessageID is filled by the caller.
func (sa *ikeSA) header(x wire.ExchangeType, response bool) wire.Header {
	h := wire.Header{InitiatorSPI: sa.spiI, ResponderSPI: sa.spiR, Exchange: x}
	if sa.initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	return h
}

// queueRequest sends an encrypted request once the window is free. build
// runs at send time, so SPIs and nonces it allocates are fresh.
func (sa *ikeSA) queueRequest(x wire.ExchangeType, build func() []wire.Payload, handle func(*wire.Message)) {
	sa.queue = append(sa.queue, queuedRequest{x, build, handle})
	sa.sendNext()
}

func (sa *ikeSA) sendNext() {
	for sa.pending == nil && len(sa.queue) > 0 && sa.state != StateClosed {
		q := sa.queue[0]
		sa.queue = sa.queue[1:]
		payloads := q.build()
		if payloads == nil && q.exchange != wire.ExchangeInformational {
			continue // the builder gave up (and logged why)
		}
		m := &wire.Message{Header: sa.header(q.exchange, false), Encrypted: true, Protected: payloads}
		m.MessageID = sa.sendID
		sa.sendRequest(m, q.handle)
	}
}

// sendRequest encodes m (encrypted when m.Encrypted), sends it and waits
// for the response with retransmissions.
func (sa *ikeSA) sendRequest(m *wire.Message, handle func(*wire.Message)) []byte {
	var c wire.SKCipher
	if m.Encrypted {
		c = sa.out
	}
	packets, err := sa.encode(m, c)
	if err != nil {
		sa.fail(fmt.Sprintf("encoding %v request: %v", m.Exchange, err), true)
		return nil
	}
	sa.pending = &request{id: m.MessageID, exchange: m.Exchange, packets: packets, handle: handle, payloads: m.Protected}
	sa.sendAll(packets)
	sa.retransmit.Mod(RetransmitTimeout)
	return packets[0]
}

// respond answers request req with encrypted payloads and remembers the
// answer for retransmitted requests.
func (sa *ikeSA) respond(req *wire.Message, payloads []wire.Payload) {
	m := &wire.Message{Header: sa.header(req.Exchange, true), Encrypted: true, Protected: payloads}
	m.MessageID = req.MessageID
	packets, err := sa.encode(m, sa.out)
	if err != nil {
		sa.e.log.Errorf("ike: peer %s: encoding %v response: %v", sa.peerName(), req.Exchange, err)
		return
	}
	sa.lastResponse = packets
	sa.recvID = req.MessageID + 1
	sa.sendAll(packets)
}

// fragmentLimit is the largest IKE datagram we send once the peer supports
// fragmentation (RFC 7383 2.5.1, without PMTU information): an IP packet
// that any path carries unfragmented, 576 bytes over IPv4 (the size every
// IPv4 host must accept; paths below 1280 bytes, tunnels over PPPoE over
// tunnels, are still seen) and 1280 over IPv6 (its minimum MTU), less the
// IP and UDP headers and the non-ESP marker. More IPv4 fragments cost a
// few dozen bytes of headers per handshake, a lost fragment the whole
// message's retransmission either way.
func (sa *ikeSA) fragmentLimit() int {
	n := 576 - 8 - 20
	if !sa.remote.Addr().Is4() {
		n = 1280 - 8 - 40
	}
	if sa.remote.Port() == sa.e.cfg.NATTPort {
		n -= 4
	}
	return n
}

// encode is m's wire form: one datagram, or SKF fragments when the peer
// announced IKEV2_FRAGMENTATION_SUPPORTED and the message would not fit.
func (sa *ikeSA) encode(m *wire.Message, c wire.SKCipher) ([][]byte, error) {
	packet, err := m.Encode(c)
	if err != nil {
		return nil, err
	}
	if !m.Encrypted || !sa.fragOK || len(packet) <= sa.fragmentLimit() || len(m.Payloads) > 0 {
		return [][]byte{packet}, nil
	}
	return wire.EncodeFragments(m, c, sa.fragmentLimit())
}

func (sa *ikeSA) sendAll(packets [][]byte) {
	for _, p := range packets {
		sa.e.send(p, sa.local, sa.remote)
	}
	sa.lastSent = sa.e.now()
}

// notifyPayload is an error or status notify about the IKE SA.
func notifyPayload(t wire.NotifyType, data []byte) *wire.Notify {
	return &wire.Notify{Type: t, Data: data}
}

// handle processes a datagram addressed to this SA (header already parsed).
func (sa *ikeSA) handle(h wire.Header, packet []byte, from, to netip.AddrPort) {
	if h.IsResponse() {
		sa.handleResponse(h, packet, from, to)
		return
	}
	switch {
	case h.MessageID+1 == sa.recvID && sa.lastResponse != nil:
		// A retransmitted request: the peer lost our answer (RFC 7296 2.1).
		// Of a fragmented request only fragment 1 triggers the resend
		// (RFC 7383 2.6.1), or every fragment would multiply our answer.
		if h.NextPayload == wire.PayloadSKF && len(packet) >= wire.HeaderLen+6 && binary.BigEndian.Uint16(packet[wire.HeaderLen+4:]) != 1 {
			return
		}
		sa.e.log.Verbosef("ike: peer %s: retransmitted %v request %d, resending our response", sa.peerName(), h.Exchange, h.MessageID)
		sa.sendAll(sa.lastResponse)
		return
	case h.MessageID != sa.recvID:
		sa.e.log.Verbosef("ike: peer %s: dropped %v request with message ID %d, expected %d", sa.peerName(), h.Exchange, h.MessageID, sa.recvID)
		return
	case sa.in == nil:
		sa.e.log.Verbosef("ike: peer %s: dropped %v request before keys exist", sa.peerName(), h.Exchange)
		return
	}
	m, err := wire.Decode(packet, sa.in)
	if err == nil && m.Fragment != nil {
		if m, err = sa.reqReasm.Add(m); m == nil && err == nil {
			return
		}
	}
	if err != nil {
		sa.badRequest(h, err)
		return
	}
	if !m.Encrypted {
		sa.e.log.Verbosef("ike: peer %s: dropped unencrypted %v request", sa.peerName(), h.Exchange)
		return
	}
	sa.authenticated(from, to)
	switch h.Exchange {
	case wire.ExchangeIKEAuth:
		if sa.initiator || sa.state != StateInitReplied {
			sa.e.log.Verbosef("ike: peer %s: unexpected IKE_AUTH request in state %v", sa.peerName(), sa.state)
			return
		}
		sa.consumeAuthRequest(m)
	case wire.ExchangeCreateChildSA:
		if sa.state != StateEstablished {
			sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyTemporaryFailure, nil)})
			return
		}
		sa.consumeCreateChildRequest(m)
	case wire.ExchangeInformational:
		if sa.state != StateEstablished && sa.state != StateDeleting {
			return
		}
		sa.consumeInformationalRequest(m)
	default:
		sa.e.log.Verbosef("ike: peer %s: dropped request of unknown exchange %v", sa.peerName(), h.Exchange)
	}
}

// authenticated records that an integrity-checked message came from
// from to to: liveness for DPD, and NAT mapping updates (RFC 7296 2.23).
func (sa *ikeSA) authenticated(from, to netip.AddrPort) {
	sa.lastReceived = sa.e.now()
	if (sa.natLocal || sa.natRemote) && (from != sa.remote || to != sa.local) && from.IsValid() {
		sa.e.log.Verbosef("ike: peer %s: NAT mapping moved from %v to %v", sa.peerName(), sa.remote, from)
		sa.remote, sa.local = from, to
		sa.updateChildEncap()
	}
}

func (sa *ikeSA) handleResponse(h wire.Header, packet []byte, from, to netip.AddrPort) {
	req := sa.pending
	if req == nil || h.MessageID != req.id || h.Exchange != req.exchange {
		sa.e.log.Verbosef("ike: peer %s: dropped unexpected %v response %d", sa.peerName(), h.Exchange, h.MessageID)
		return
	}
	if h.Exchange != wire.ExchangeIKESAInit && isInvalidIKESPI(h, packet) {
		sa.invalidIKESPIHint(req) // unprotected: a hint, not an answer (dpd.go)
		return
	}
	var m *wire.Message
	var err error
	if h.Exchange == wire.ExchangeIKESAInit {
		// Decoding cleartext leaves the datagram intact: it is signed in AUTH.
		m, err = wire.Decode(packet, nil)
		sa.initResponse = packet
	} else {
		m, err = wire.Decode(packet, sa.in)
		if err == nil && m.Fragment != nil {
			if m, err = sa.respReasm.Add(m); m == nil && err == nil {
				return
			}
		}
		if err == nil && !m.Encrypted {
			err = fmt.Errorf("unencrypted %v response", h.Exchange)
		}
	}
	if err != nil {
		// Dropped, not answered: responses are never answered, and a
		// forged one must not cost us the real one (RFC 7296 2.21).
		sa.e.log.Verbosef("ike: peer %s: dropped bad %v response %d: %v", sa.peerName(), h.Exchange, h.MessageID, err)
		return
	}
	if h.Exchange != wire.ExchangeIKESAInit {
		sa.authenticated(from, to)
	}
	sa.pending = nil
	sa.retransmit.Del()
	sa.sendID = h.MessageID + 1
	req.handle(m)
	sa.sendNext()
}

// fail closes the SA after an error; the peer is told nothing (the caller
// has already sent whatever notify applies). A "start" peer is restarted
// after RestartDelay when restart is set.
func (sa *ikeSA) fail(why string, restart bool) {
	if sa.state == StateClosed {
		return
	}
	sa.e.log.Errorf("ike: peer %s: IKE SA %x (%v) failed: %s", sa.peerName(), sa.ourSPI(), sa.state, why)
	sa.reportFailure(why)
	sa.close(restart)
}

// close removes the SA and its children, and restarts a "start" peer
// after RestartDelay when restart is set.
func (sa *ikeSA) close(restart bool) {
	if sa.state == StateClosed {
		return
	}
	sa.reportFailure(closedBeforeEstablished)
	// Our children live on in the peer's colliding rekey, if there is one.
	sa.adoptPeerSuccessor()
	sa.state = StateClosed
	sa.reauthClosed()
	sa.timersStop()
	sa.pending = nil
	sa.queue = nil
	if n := sa.successorSA; n != nil && n.state != StateEstablished {
		delete(sa.e.sas, n.ourSPI())
	}
	hadChildren := len(sa.children) > 0
	for _, c := range sa.children {
		if c.rekeySent {
			sa.releaseSPI(c.rekeyNext) // a rekey whose answer never came
		}
	}
	sa.dropChildren()
	sa.releaseFirstChild()
	if cur, ok := sa.e.sas[sa.ourSPI()]; ok && cur == sa {
		delete(sa.e.sas, sa.ourSPI())
	}
	delete(sa.e.halfOpen, halfOpenKey{sa.spiI, sa.remote})
	if hadChildren {
		sa.e.syncKernel()
	}
	if p := sa.peer; restart && !sa.noRestart && p != nil && !p.removed && p.cfg.StartAction == StartStart && len(sa.e.sasOf(p)) == 0 {
		p.restart.Mod(RestartDelay)
	}
}

// delete starts deleting the IKE SA: children leave the kernel at once,
// the SA itself when the peer confirms or stops answering.
func (sa *ikeSA) delete() {
	switch sa.state {
	case StateClosed, StateDeleting:
		return
	case StateEstablished:
	default:
		sa.close(false) // nothing to tell a peer that never authenticated
		return
	}
	sa.state = StateDeleting
	sa.queue = nil
	if len(sa.children) > 0 {
		sa.dropChildren()
		sa.e.syncKernel()
	}
	sa.queueRequest(wire.ExchangeInformational, func() []wire.Payload {
		return []wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}}
	}, func(*wire.Message) {
		sa.e.log.Verbosef("ike: peer %s: IKE SA %x deleted", sa.peerName(), sa.ourSPI())
		sa.close(false)
	})
}

// sendDeleteOnce sends a Delete of the IKE SA without waiting (shutdown).
func (sa *ikeSA) sendDeleteOnce() {
	sa.sendInformationalOnce(&wire.Delete{Protocol: wire.ProtocolIKE})
}

// sendInformationalOnce sends an INFORMATIONAL request without waiting for
// its answer: the SA is about to go away.
func (sa *ikeSA) sendInformationalOnce(payloads ...wire.Payload) {
	m := &wire.Message{Header: sa.header(wire.ExchangeInformational, false), Encrypted: true, Protected: payloads}
	m.MessageID = sa.sendID
	if sa.pending != nil {
		m.MessageID = sa.pending.id + 1
	}
	if packet, err := m.Encode(sa.out); err == nil {
		sa.sendAll([][]byte{packet})
	}
}
