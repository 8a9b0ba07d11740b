package suite

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"alixsec.dev/ikesvc/wire"
)

// ErrNoProposalChosen: nothing offered matches our proposals (answer
// NO_PROPOSAL_CHOSEN), or a responder's choice is not one we offered.
var ErrNoProposalChosen = errors.New("suite: no proposal chosen")

// Suite is a negotiated set: one algorithm per transform type.
type Suite struct {
	Protocol wire.ProtocolID
	Encr     Encr
	PRF      PRFID   // IKE only
	Integ    IntegID // IntegNone with AEADs
	DH       DHGroup // DHNone for a CHILD_SA without PFS
	ESN      ESN     // ESP only
}

// String names the suite in strongSwan syntax, e.g. "aes128gcm16-prfsha256-ecp256".
func (s Suite) String() string {
	parts := []string{encrName(s.Encr)}
	if s.Integ != IntegNone {
		parts = append(parts, nameOf(wire.TransformINTEG, uint16(s.Integ)))
	}
	if s.Protocol == wire.ProtocolIKE {
		parts = append(parts, nameOf(wire.TransformPRF, uint16(s.PRF)))
	}
	if s.DH != DHNone {
		parts = append(parts, nameOf(wire.TransformDH, uint16(s.DH)))
	}
	if s.Protocol == wire.ProtocolESP {
		parts = append(parts, nameOf(wire.TransformESN, uint16(s.ESN)))
	}
	return strings.Join(parts, "-")
}

// Proposal is the one-choice proposal that states s.
func (s Suite) Proposal() Proposal {
	p := Proposal{Protocol: s.Protocol, Encr: []Encr{s.Encr}}
	if s.PRF != 0 {
		p.PRF = []PRFID{s.PRF}
	}
	if s.Integ != IntegNone {
		p.Integ = []IntegID{s.Integ}
	}
	if s.DH != DHNone {
		p.DH = []DHGroup{s.DH}
	}
	if s.Protocol == wire.ProtocolESP {
		p.ESN = []ESN{s.ESN}
	}
	return p
}

// Choice is the outcome of a negotiation.
type Choice struct {
	Suite Suite
	// Number is the number of the peer's proposal that was chosen, echoed
	// in the responder's SA payload.
	Number uint8
	// PeerSPI is the SPI the peer put in that proposal (ESP: the SPI we
	// send to; IKE rekey: the peer's new IKE SPI).
	PeerSPI []byte
}

// Wire is the responder's SA payload proposal for c, carrying our SPI.
func (c Choice) Wire(ourSPI []byte) wire.Proposal {
	return c.Suite.Proposal().Wire(c.Number, ourSPI)
}

// Select is the responder's choice among the peer's offered proposals.
//
// Policy: our preference wins. Our proposals are tried in our order, each
// against the peer's proposals in the peer's order; within a match each
// transform type takes the first of our algorithms that the peer lists.
// One exception saves a round trip: when keGroup (the group of the peer's
// KE payload, DHNone if none) is acceptable in the match, it is chosen
// over our preferred group, so no INVALID_KE_PAYLOAD is needed.
func Select(ours []Proposal, offered []wire.Proposal, keGroup DHGroup) (Choice, error) {
	for _, our := range ours {
		for _, wp := range offered {
			if wp.Protocol != our.Protocol {
				continue
			}
			if s, ok := match(our, wp, keGroup); ok {
				return Choice{Suite: s, Number: wp.Number, PeerSPI: wp.SPI}, nil
			}
		}
	}
	return Choice{}, fmt.Errorf("%w: %d offered proposals, none matches ours (%s)", ErrNoProposalChosen, len(offered), proposalsString(ours))
}

func proposalsString(ps []Proposal) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return strings.Join(names, ",")
}

// offer is a peer proposal split by transform type; an absent type is the
// single option 0 (NONE), the same as an explicit NONE transform.
type offer struct {
	encr                []Encr
	prf, integ, dh, esn []uint16
}

func splitOffer(wp wire.Proposal) offer {
	var o offer
	for _, t := range wp.Transforms {
		if t.UnknownAttributes {
			continue // RFC 7296 3.3.6: reject a transform with unknown attributes
		}
		switch t.Type {
		case wire.TransformENCR:
			e := Encr{ID: EncrID(t.ID), KeyBits: int(t.KeyLength)}
			if e.ID == EncrChaCha20Poly1305 && e.KeyBits == 0 {
				e.KeyBits = 256
			}
			o.encr = append(o.encr, e)
		case wire.TransformPRF:
			o.prf = append(o.prf, t.ID)
		case wire.TransformINTEG:
			o.integ = append(o.integ, t.ID)
		case wire.TransformDH:
			o.dh = append(o.dh, t.ID)
		case wire.TransformESN:
			o.esn = append(o.esn, t.ID)
		}
	}
	for _, l := range []*[]uint16{&o.prf, &o.integ, &o.dh, &o.esn} {
		if len(*l) == 0 {
			*l = []uint16{0}
		}
	}
	return o
}

// pick returns the first of ours (NONE when ours is empty) that offered holds.
func pick[T ~uint16](ours []T, offered []uint16) (T, bool) {
	if len(ours) == 0 {
		return 0, slices.Contains(offered, 0)
	}
	for _, v := range ours {
		if slices.Contains(offered, uint16(v)) {
			return v, true
		}
	}
	return 0, false
}

func match(our Proposal, wp wire.Proposal, keGroup DHGroup) (Suite, bool) {
	o := splitOffer(wp)
	s := Suite{Protocol: our.Protocol}
	found := false
	for _, e := range our.Encr {
		if slices.Contains(o.encr, e) {
			s.Encr, found = e, true
			break
		}
	}
	if !found {
		return s, false
	}
	var ok bool
	if s.PRF, ok = pick(our.PRF, o.prf); !ok {
		return s, false
	}
	if s.Integ, ok = pick(our.Integ, o.integ); !ok {
		return s, false
	}
	if keGroup != DHNone && slices.Contains(our.DH, keGroup) && slices.Contains(o.dh, uint16(keGroup)) {
		s.DH = keGroup
	} else if s.DH, ok = pick(our.DH, o.dh); !ok {
		return s, false
	}
	if s.ESN, ok = pick(our.ESN, o.esn); !ok {
		return s, false
	}
	// AEAD with a real integrity algorithm, or IKE without PRF/DH, is never valid.
	if s.Encr.ID.AEAD() != (s.Integ == IntegNone) {
		return s, false
	}
	if s.Protocol == wire.ProtocolIKE && (s.PRF == 0 || s.DH == DHNone) {
		return s, false
	}
	return s, true
}

// Accept checks the responder's SA payload against the proposals we sent
// (numbered from 1 as WireProposals does): exactly one proposal, one
// transform per type, and every choice listed in our proposal of that number.
func Accept(ours []Proposal, reply []wire.Proposal) (Choice, error) {
	if len(reply) != 1 {
		return Choice{}, fmt.Errorf("%w: responder returned %d proposals", ErrNoProposalChosen, len(reply))
	}
	wp := reply[0]
	if wp.Number == 0 || int(wp.Number) > len(ours) {
		return Choice{}, fmt.Errorf("%w: responder chose proposal %d of %d", ErrNoProposalChosen, wp.Number, len(ours))
	}
	our := ours[wp.Number-1]
	if wp.Protocol != our.Protocol {
		return Choice{}, fmt.Errorf("%w: responder answered protocol %v to %v", ErrNoProposalChosen, wp.Protocol, our.Protocol)
	}
	seen := map[wire.TransformType]bool{}
	for _, t := range wp.Transforms {
		if seen[t.Type] {
			return Choice{}, fmt.Errorf("%w: responder chose two %v transforms", ErrNoProposalChosen, t.Type)
		}
		seen[t.Type] = true
	}
	s, ok := match(our, wp, DHNone)
	if !ok {
		return Choice{}, fmt.Errorf("%w: responder chose %s, not within our %s", ErrNoProposalChosen, FromWire(wp), our)
	}
	return Choice{Suite: s, Number: wp.Number, PeerSPI: wp.SPI}, nil
}

// DefaultIKEProposals are used when the config names none. AEAD first
// (cheapest on the Geode: one pass), P-256 before X25519 as the first KE
// guess, SHA-1 and MODP-1024 never.
func DefaultIKEProposals() []Proposal {
	return MustParseProposals(wire.ProtocolIKE,
		"aes128gcm16-aes256gcm16-prfsha256-prfsha384-prfsha512-ecp256-x25519-ecp384-modp3072-modp2048,"+
			"aes128-aes256-sha256-sha384-sha512-ecp256-x25519-ecp384-modp3072-modp2048,"+
			"chacha20poly1305-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384")
}

// DefaultESPProposals are used when the config names none. aes128-sha256
// comes first because the ALIX's Geode AES engine offloads only
// AES-128-CBC; then the AEADs. No PFS group (the IKE SA's DH is fresh
// anyway; configure one to get PFS on rekeys), ESN allowed but not preferred.
func DefaultESPProposals() []Proposal {
	return MustParseProposals(wire.ProtocolESP,
		"aes128-sha256-noesn-esn,"+
			"aes128gcm16-aes256gcm16-noesn-esn,"+
			"aes256-sha256-sha384-sha512-noesn-esn,"+
			"chacha20poly1305-noesn-esn")
}
