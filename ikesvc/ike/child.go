package ike

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// childSA is one CHILD_SA: a pair of ESP SAs sharing the peer's reqid.
type childSA struct {
	reqid             uint32
	mode              kernel.Mode
	suite             suite.Suite
	inSPI, outSPI     uint32
	tsLocal, tsRemote []wire.TrafficSelector
	inSA, outSA       kernel.SA
	created           time.Time
	rekeyAfter        time.Duration
	rekey             *timer
	rekeying          bool     // our rekey of it is queued or in flight
	rekeySent         bool     // ... and its request has gone out
	rekeyNext         *childSA // ... proposing this successor (saved state resumes it)

	// After a rekey (RFC 7296 2.8.1; collision.go). superseded: a newer
	// CHILD_SA took over and the peer is to delete this one (we do after
	// SupersededDeleteDelay if it does not); deleting: our Delete of it
	// is in flight; peerRekey: the peer's rekey of it, answered while our
	// own was in flight (a collision, resolved when ours completes).
	superseded bool
	deleting   bool
	peerRekey  *rekeyOutcome
	// outPending: we answered the exchange that created it and its
	// outbound SA waits until no other installed SA carries the same
	// traffic (make-before-break, childinstall.go). hardExpired: the
	// kernel deleted it, so nothing of it may linger.
	outPending  bool
	outWait     *timer // PendingOutboundLimit
	hardExpired bool

	// While being proposed by us.
	proposals []suite.Proposal
	ni        []byte
	ke        suite.KeyExchange
}

// ErrTSUnacceptable reports traffic selectors outside the configured ones.
var ErrTSUnacceptable = errors.New("traffic selectors unacceptable")

// hostTS is the traffic selector of one address, any protocol and port.
func hostTS(a netip.Addr) wire.TrafficSelector {
	return wire.TrafficSelector{StartAddr: a, EndAddr: a, EndPort: 0xffff}
}

// prefixTS is the traffic selector of a prefix, any protocol and port.
func prefixTS(p netip.Prefix) wire.TrafficSelector {
	p = p.Masked()
	return wire.TrafficSelector{StartAddr: p.Addr(), EndAddr: lastAddr(p), EndPort: 0xffff}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// configTS turns configured prefixes into selectors; none means the host.
func configTS(prefixes []netip.Prefix, host netip.Addr) []wire.TrafficSelector {
	if len(prefixes) == 0 {
		return []wire.TrafficSelector{hostTS(host)}
	}
	out := make([]wire.TrafficSelector, 0, len(prefixes))
	for _, p := range prefixes {
		out = append(out, prefixTS(p))
	}
	return out
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// intersectTS is the part of a inside b (RFC 7296 2.9 narrowing).
func intersectTS(a, b wire.TrafficSelector) (wire.TrafficSelector, bool) {
	if a.StartAddr.Is4() != b.StartAddr.Is4() {
		return a, false
	}
	var out wire.TrafficSelector
	out.StartAddr, out.EndAddr = maxAddr(a.StartAddr, b.StartAddr), minAddr(a.EndAddr, b.EndAddr)
	if out.EndAddr.Less(out.StartAddr) {
		return a, false
	}
	switch {
	case a.IPProtocol == b.IPProtocol, b.IPProtocol == 0:
		out.IPProtocol = a.IPProtocol
	case a.IPProtocol == 0:
		out.IPProtocol = b.IPProtocol
	default:
		return a, false
	}
	out.StartPort, out.EndPort = max(a.StartPort, b.StartPort), min(a.EndPort, b.EndPort)
	if out.StartPort > out.EndPort {
		return a, false
	}
	return out, true
}

// narrowTS intersects what the peer proposed with what we allow.
func narrowTS(offered, allowed []wire.TrafficSelector) []wire.TrafficSelector {
	var out []wire.TrafficSelector
	for _, o := range offered {
		for _, a := range allowed {
			if n, ok := intersectTS(o, a); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

// withinTS reports whether every selector of got lies inside one of want.
func withinTS(got, want []wire.TrafficSelector) bool {
	for _, g := range got {
		ok := false
		for _, w := range want {
			if n, inside := intersectTS(g, w); inside && n == g {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return len(got) > 0
}

// withoutDH drops the DH transforms: IKE_AUTH's CHILD_SA takes its keys
// from the IKE SA's exchange (RFC 7296 1.2).
func withoutDH(ps []suite.Proposal) []suite.Proposal {
	out := make([]suite.Proposal, len(ps))
	for i, p := range ps {
		p.DH = nil
		out[i] = p
	}
	return out
}

func wireWithoutDH(ps []wire.Proposal) []wire.Proposal {
	out := make([]wire.Proposal, len(ps))
	for i, p := range ps {
		var ts []wire.Transform
		for _, t := range p.Transforms {
			if t.Type != wire.TransformDH {
				ts = append(ts, t)
			}
		}
		p.Transforms = ts
		out[i] = p
	}
	return out
}

func spiBytes(spi uint32) []byte { return binary.BigEndian.AppendUint32(nil, spi) }

// allocSPI reserves our inbound SPI for a new CHILD_SA.
func (sa *ikeSA) allocSPI() (uint32, error) {
	spi, err := sa.e.cfg.Kernel.AllocSPI(context.Background(), sa.remote.Addr(), sa.local.Addr(), sa.peer.reqid)
	if err != nil {
		return 0, fmt.Errorf("allocating an inbound SPI: %w", err)
	}
	return spi, nil
}

// proposeChild builds the initiator's side of a CHILD_SA negotiation: in
// IKE_AUTH (forAuth: no nonce, no KE) or CREATE_CHILD_SA (rekeying old,
// whose selectors it keeps, or a new one when old is nil).
func (sa *ikeSA) proposeChild(forAuth bool, old *childSA) (*childSA, []wire.Payload, error) {
	p := sa.peer
	spi, err := sa.allocSPI()
	if err != nil {
		return nil, nil, err
	}
	c := &childSA{reqid: p.reqid, mode: p.cfg.Mode, inSPI: spi, proposals: p.cfg.ESP}
	if old != nil {
		c.tsLocal, c.tsRemote = old.tsLocal, old.tsRemote
	} else {
		c.tsLocal = configTS(p.cfg.LocalTS, sa.local.Addr())
		c.tsRemote = configTS(p.cfg.RemoteTS, sa.remote.Addr())
	}
	var payloads []wire.Payload
	if c.mode == kernel.ModeTransport {
		payloads = append(payloads, notifyPayload(wire.NotifyUseTransportMode, nil))
	}
	if forAuth {
		c.proposals = withoutDH(c.proposals)
	}
	payloads = append(payloads, &wire.SA{Proposals: suite.WireProposals(c.proposals, spiBytes(spi))})
	if !forAuth {
		if c.ni, err = sa.e.randomBytes(NonceLen); err != nil {
			return nil, nil, err
		}
		payloads = append(payloads, &wire.Nonce{Data: c.ni})
		if g := firstGroup(c.proposals); g != suite.DHNone {
			if c.ke, err = suite.NewKeyExchange(g, sa.e.rand); err != nil {
				return nil, nil, err
			}
			payloads = append(payloads, &wire.KE{Group: uint16(g), Data: c.ke.PublicKey()})
		}
	}
	payloads = append(payloads,
		&wire.TrafficSelectors{Selectors: c.tsLocal},
		&wire.TrafficSelectors{Responder: true, Selectors: c.tsRemote})
	return c, payloads, nil
}

// completeChild checks the responder's CHILD_SA answer to proposeChild and
// installs the SAs.
func (sa *ikeSA) completeChild(c *childSA, m *wire.Message, weInitiated bool, ni, nr []byte) error {
	saP, _ := m.Find(wire.PayloadSA).(*wire.SA)
	tsi, _ := m.Find(wire.PayloadTSi).(*wire.TrafficSelectors)
	tsr, _ := m.Find(wire.PayloadTSr).(*wire.TrafficSelectors)
	if saP == nil || tsi == nil || tsr == nil {
		return errors.New("SA, TSi or TSr payload missing")
	}
	choice, err := suite.Accept(c.proposals, saP.Proposals)
	if err != nil {
		return err
	}
	if len(choice.PeerSPI) != 4 {
		return fmt.Errorf("ESP SPI of %d bytes", len(choice.PeerSPI))
	}
	var secret []byte
	if choice.Suite.DH != suite.DHNone {
		keP, _ := m.Find(wire.PayloadKE).(*wire.KE)
		if keP == nil || c.ke == nil || suite.DHGroup(keP.Group) != c.ke.Group() {
			return fmt.Errorf("responder chose PFS group %v without a matching KE", choice.Suite.DH)
		}
		if secret, err = c.ke.SharedSecret(keP.Data); err != nil {
			return err
		}
	}
	gotTSi, gotTSr := tsi.Selectors, tsr.Selectors
	if c.mode == kernel.ModeTransport && sa.natLocal {
		gotTSi = substituteHost(gotTSi, sa.local.Addr())
	}
	if c.mode == kernel.ModeTransport && sa.natRemote {
		// The responder may name its private address (RFC 7296 2.23.1).
		gotTSr = substituteHost(gotTSr, sa.remote.Addr())
	}
	if !withinTS(gotTSi, c.tsLocal) || !withinTS(gotTSr, c.tsRemote) {
		return fmt.Errorf("%w: responder answered selectors outside those we proposed", ErrTSUnacceptable)
	}
	if transport := m.FindNotify(wire.NotifyUseTransportMode) != nil; transport != (c.mode == kernel.ModeTransport) {
		return fmt.Errorf("we asked for %v mode, the responder did not agree", c.mode)
	}
	c.suite = choice.Suite
	c.outSPI = binary.BigEndian.Uint32(choice.PeerSPI)
	c.tsLocal, c.tsRemote = cloneTS(gotTSi), cloneTS(gotTSr)
	keys, err := suite.DeriveChildKeys(c.suite, sa.suite.PRF, sa.keys.D, secret, ni, nr)
	if err != nil {
		return err
	}
	sa.setChildKeys(c, keys, weInitiated)
	// An IKE SA rekey may have moved the CHILD_SAs on meanwhile.
	sa.current().addChild(c)
	return nil
}

// substituteHost replaces the addresses of host selectors of addr's family
// with addr, keeping protocol and ports.
func substituteHost(ts []wire.TrafficSelector, addr netip.Addr) []wire.TrafficSelector {
	out := cloneTS(ts)
	for i := range out {
		if out[i].StartAddr.Is4() == addr.Is4() {
			out[i].StartAddr, out[i].EndAddr = addr, addr
		}
	}
	return out
}

func cloneTS(ts []wire.TrafficSelector) []wire.TrafficSelector {
	return append([]wire.TrafficSelector(nil), ts...)
}

// acceptChild is the responder's side: choose a proposal, narrow the
// selectors, derive keys. It returns the answer's payloads (with our nonce
// nr after the SA payload when nr is given) or the error notify to send.
func (sa *ikeSA) acceptChild(m *wire.Message, forAuth bool, ni, nr []byte, old *childSA) ([]wire.Payload, *childSA, *wire.Notify) {
	p := sa.peer
	name := p.cfg.Name
	saP, _ := m.Find(wire.PayloadSA).(*wire.SA)
	tsi, _ := m.Find(wire.PayloadTSi).(*wire.TrafficSelectors)
	tsr, _ := m.Find(wire.PayloadTSr).(*wire.TrafficSelectors)
	if saP == nil || tsi == nil || tsr == nil {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA request without SA, TSi or TSr", name)
		return nil, nil, notifyPayload(wire.NotifyInvalidSyntax, nil)
	}
	ours, offered := p.cfg.ESP, saP.Proposals
	keGroup := suite.DHNone
	keP, _ := m.Find(wire.PayloadKE).(*wire.KE)
	if forAuth {
		ours, offered = withoutDH(ours), wireWithoutDH(offered)
	} else if keP != nil {
		keGroup = suite.DHGroup(keP.Group)
	}
	choice, err := suite.Select(ours, offered, keGroup)
	if err != nil {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA: %v", name, err)
		return nil, nil, notifyPayload(wire.NotifyNoProposalChosen, nil)
	}
	if len(choice.PeerSPI) != 4 {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA: ESP SPI of %d bytes", name, len(choice.PeerSPI))
		return nil, nil, notifyPayload(wire.NotifyInvalidSyntax, nil)
	}
	if choice.Suite.DH != suite.DHNone && (keP == nil || keGroup != choice.Suite.DH) {
		return nil, nil, notifyPayload(wire.NotifyInvalidKEPayload, binary.BigEndian.AppendUint16(nil, uint16(choice.Suite.DH)))
	}
	wantTransport := p.cfg.Mode == kernel.ModeTransport
	if askTransport := m.FindNotify(wire.NotifyUseTransportMode) != nil; askTransport != wantTransport {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA: peer wants transport mode %v, we are configured for %v", name, askTransport, p.cfg.Mode)
		return nil, nil, notifyPayload(wire.NotifyNoProposalChosen, nil)
	}
	var allowLocal, allowRemote []wire.TrafficSelector
	if old != nil {
		allowLocal, allowRemote = old.tsLocal, old.tsRemote
	} else {
		allowLocal = configTS(p.cfg.LocalTS, sa.local.Addr())
		allowRemote = configTS(p.cfg.RemoteTS, sa.remote.Addr())
	}
	// Transport mode through a NAT (RFC 7296 2.23.1): the peer names its
	// own private address, but the kernel sees the NAT's; use that, and
	// answer with what the peer proposed.
	offTSi, offTSr := tsi.Selectors, tsr.Selectors
	if wantTransport && sa.natRemote {
		offTSi = substituteHost(offTSi, sa.remote.Addr())
	}
	if wantTransport && sa.natLocal {
		offTSr = substituteHost(offTSr, sa.local.Addr())
	}
	nTSi, nTSr := narrowTS(offTSi, allowRemote), narrowTS(offTSr, allowLocal)
	if len(nTSi) == 0 || len(nTSr) == 0 {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA: traffic selectors %v -> %v are outside ours %v -> %v", name, tsi.Selectors, tsr.Selectors, allowRemote, allowLocal)
		return nil, nil, notifyPayload(wire.NotifyTSUnacceptable, nil)
	}
	var secret []byte
	var ke suite.KeyExchange
	if choice.Suite.DH != suite.DHNone {
		if ke, err = suite.NewKeyExchange(choice.Suite.DH, sa.e.rand); err == nil {
			secret, err = ke.SharedSecret(keP.Data)
		}
		if err != nil {
			sa.e.log.Errorf("ike: peer %s: CHILD_SA PFS: %v", name, err)
			return nil, nil, notifyPayload(wire.NotifyInvalidSyntax, nil)
		}
	}
	spi, err := sa.allocSPI()
	if err != nil {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA: %v", name, err)
		return nil, nil, notifyPayload(wire.NotifyTemporaryFailure, nil)
	}
	keys, err := suite.DeriveChildKeys(choice.Suite, sa.suite.PRF, sa.keys.D, secret, ni, nr)
	if err != nil {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA keys: %v", name, err)
		return nil, nil, notifyPayload(wire.NotifyNoProposalChosen, nil)
	}
	c := &childSA{reqid: p.reqid, mode: p.cfg.Mode, suite: choice.Suite, inSPI: spi,
		outSPI: binary.BigEndian.Uint32(choice.PeerSPI), tsLocal: nTSr, tsRemote: nTSi}
	sa.setChildKeys(c, keys, false)
	var payloads []wire.Payload
	if wantTransport {
		payloads = append(payloads, notifyPayload(wire.NotifyUseTransportMode, nil))
	}
	payloads = append(payloads, &wire.SA{Proposals: []wire.Proposal{choice.Wire(spiBytes(spi))}})
	if nr != nil && !forAuth {
		payloads = append(payloads, &wire.Nonce{Data: nr})
	}
	if ke != nil {
		payloads = append(payloads, &wire.KE{Group: uint16(ke.Group()), Data: ke.PublicKey()})
	}
	ansTSi, ansTSr := nTSi, nTSr
	if wantTransport && sa.natRemote {
		ansTSi = cloneTS(tsi.Selectors)
	}
	if wantTransport && sa.natLocal {
		ansTSr = cloneTS(tsr.Selectors)
	}
	payloads = append(payloads,
		&wire.TrafficSelectors{Selectors: ansTSi},
		&wire.TrafficSelectors{Responder: true, Selectors: ansTSr})
	return payloads, c, nil
}

// setChildKeys fills in the kernel SAs. Keys run from the initiator of the
// exchange that created the CHILD_SA to its responder first (RFC 7296 2.17).
func (sa *ikeSA) setChildKeys(c *childSA, keys suite.ChildKeys, weInitiated bool) {
	out, in := keys.InitiatorToResponder, keys.ResponderToInitiator
	if !weInitiated {
		out, in = in, out
	}
	base := kernel.SA{
		Reqid: c.reqid, Mode: c.mode,
		Encryption: kernel.Encryption(c.suite.Encr.ID), Integrity: kernel.Integrity(c.suite.Integ),
		ESN: c.suite.ESN == suite.ESNYes, ReplayWindow: ReplayWindow,
	}
	c.outSA, c.inSA = base, base
	c.outSA.SPI, c.outSA.EncryptionKey, c.outSA.IntegrityKey = c.outSPI, out.Encr, out.Integ
	c.inSA.SPI, c.inSA.EncryptionKey, c.inSA.IntegrityKey = c.inSPI, in.Encr, in.Integ
	sa.setChildAddresses(c)
	c.rekeyAfter = sa.peer.cfg.rekeyTime()
	if !weInitiated {
		// The exchange's initiator rekeys on time; we step in only later,
		// which avoids most rekey collisions (collision.go resolves the
		// rest). Our outbound SA waits for the old one to leave.
		c.rekeyAfter += c.rekeyAfter / 10
		c.outPending = true
	} else {
		c.rekeyAfter -= sa.e.jitter(c.rekeyAfter)
	}
}

// setChildAddresses sets the outer addresses and, behind a NAT, ESP-in-UDP.
func (sa *ikeSA) setChildAddresses(c *childSA) {
	c.outSA.Src, c.outSA.Dst = sa.local.Addr(), sa.remote.Addr()
	c.inSA.Src, c.inSA.Dst = sa.remote.Addr(), sa.local.Addr()
	c.outSA.Encap, c.inSA.Encap = nil, nil
	if sa.natLocal || sa.natRemote {
		c.outSA.Encap = &kernel.UDPEncap{SrcPort: sa.local.Port(), DstPort: sa.remote.Port()}
		c.inSA.Encap = &kernel.UDPEncap{SrcPort: sa.remote.Port(), DstPort: sa.local.Port()}
	}
}

// updateChildEncap follows a NAT mapping change.
func (sa *ikeSA) updateChildEncap() {
	for _, c := range sa.children {
		sa.setChildAddresses(c)
	}
	if len(sa.children) > 0 {
		sa.e.syncKernel()
	}
}

// addChild installs c and arms its rekey timer. Should be called after a
// CHILD_SA's keys are derived.
func (sa *ikeSA) addChild(c *childSA) {
	c.created = sa.e.now()
	c.proposals, c.ke, c.ni = nil, nil, nil
	c.rekey = sa.e.newTimer(func() { sa.rekeyChild(c) })
	c.rekey.Mod(c.rekeyAfter)
	sa.e.timersOutbound(c)
	sa.children = append(sa.children, c)
	sa.e.log.Verbosef("ike: peer %s: CHILD_SA %08x_i %08x_o %v %v installed", sa.peerName(), c.inSPI, c.outSPI, c.mode, c.suite)
	sa.e.staleReplaced(c.reqid)
	sa.e.syncKernel()
}

// removeChild forgets c; the caller syncs the kernel.
func (sa *ikeSA) removeChild(c *childSA) {
	c.rekey.Del()
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i], sa.children[i+1:]...)
			sa.e.retireChild(c)
			return
		}
	}
}

// dropChildren forgets all of sa's CHILD_SAs; the caller syncs the kernel.
func (sa *ikeSA) dropChildren() {
	cs := sa.children
	sa.children = nil
	for _, c := range cs {
		sa.e.retireChild(c)
	}
}

// releaseFirstChild drops a CHILD_SA proposed in IKE_AUTH that never came
// up, and its SPI reservation.
func (sa *ikeSA) releaseFirstChild() {
	sa.releaseSPI(sa.firstChild)
	sa.firstChild = nil
}

// releaseSPI gives back the inbound SPI reserved for c, a CHILD_SA we
// proposed that never came up. The kernel would expire the reservation
// by itself only after net.core.xfrm_acq_expires; until then it is a
// leftover in its tables. c must not be installed.
func (sa *ikeSA) releaseSPI(c *childSA) {
	if c == nil || c.inSPI == 0 || sa.hasChild(c) {
		return
	}
	id := kernel.SAID{Dst: sa.local.Addr(), SPI: c.inSPI}
	if err := sa.e.cfg.Kernel.DeleteSA(context.Background(), id); err != nil {
		sa.e.log.Verbosef("ike: peer %s: releasing SPI %08x: %v", sa.peerName(), c.inSPI, err)
	}
}

// hasChild reports whether c is still one of sa's CHILD_SAs.
func (sa *ikeSA) hasChild(c *childSA) bool {
	for _, x := range sa.children {
		if x == c {
			return true
		}
	}
	return false
}

func (sa *ikeSA) childByOutSPI(spi uint32) *childSA {
	for _, c := range sa.children {
		if c.outSPI == spi {
			return c
		}
	}
	return nil
}
