package suite

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"alixsec.dev/ikesvc/wire"
)

// ErrInvalidProposal reports a proposal string or structure that breaks the
// rules below; the error text names the offending token.
var ErrInvalidProposal = errors.New("suite: invalid proposal")

// Proposal is one configured proposal: for each transform type, the
// acceptable algorithms in order of preference. An empty DH list means no
// PFS (CHILD_SAs only); an empty Integ list goes with AEADs.
type Proposal struct {
	Protocol wire.ProtocolID // ProtocolIKE or ProtocolESP
	Encr     []Encr
	PRF      []PRFID // IKE only
	Integ    []IntegID
	DH       []DHGroup
	ESN      []ESN // ESP only; Parse defaults it to [ESNNo]
}

type token struct {
	name string
	kind wire.TransformType
	id   uint16
	bits int
}

// tokens are strongSwan's algorithm keywords (the subset we implement).
var tokens = []token{
	{"aes128", wire.TransformENCR, uint16(EncrAESCBC), 128},
	{"aes256", wire.TransformENCR, uint16(EncrAESCBC), 256},
	{"aes128gcm16", wire.TransformENCR, uint16(EncrAESGCM16), 128},
	{"aes128gcm128", wire.TransformENCR, uint16(EncrAESGCM16), 128},
	{"aes256gcm16", wire.TransformENCR, uint16(EncrAESGCM16), 256},
	{"aes256gcm128", wire.TransformENCR, uint16(EncrAESGCM16), 256},
	{"chacha20poly1305", wire.TransformENCR, uint16(EncrChaCha20Poly1305), 256},
	{"sha1", wire.TransformINTEG, uint16(IntegHMACSHA1_96), 0},
	{"sha", wire.TransformINTEG, uint16(IntegHMACSHA1_96), 0},
	{"sha256", wire.TransformINTEG, uint16(IntegHMACSHA2_256128), 0},
	{"sha2_256", wire.TransformINTEG, uint16(IntegHMACSHA2_256128), 0},
	{"sha384", wire.TransformINTEG, uint16(IntegHMACSHA2_384192), 0},
	{"sha2_384", wire.TransformINTEG, uint16(IntegHMACSHA2_384192), 0},
	{"sha512", wire.TransformINTEG, uint16(IntegHMACSHA2_512256), 0},
	{"sha2_512", wire.TransformINTEG, uint16(IntegHMACSHA2_512256), 0},
	{"prfsha1", wire.TransformPRF, uint16(PRFHMACSHA1), 0},
	{"prfsha256", wire.TransformPRF, uint16(PRFHMACSHA2_256), 0},
	{"prfsha384", wire.TransformPRF, uint16(PRFHMACSHA2_384), 0},
	{"prfsha512", wire.TransformPRF, uint16(PRFHMACSHA2_512), 0},
	{"modp1024", wire.TransformDH, uint16(DHMODP1024), 0},
	{"modp2048", wire.TransformDH, uint16(DHMODP2048), 0},
	{"modp3072", wire.TransformDH, uint16(DHMODP3072), 0},
	{"modp4096", wire.TransformDH, uint16(DHMODP4096), 0},
	{"ecp256", wire.TransformDH, uint16(DHECP256), 0},
	{"ecp384", wire.TransformDH, uint16(DHECP384), 0},
	{"curve25519", wire.TransformDH, uint16(DHCurve25519), 0},
	{"x25519", wire.TransformDH, uint16(DHCurve25519), 0},
	{"esn", wire.TransformESN, uint16(ESNYes), 0},
	{"noesn", wire.TransformESN, uint16(ESNNo), 0},
}

func lookupToken(name string) (token, bool) {
	for _, t := range tokens {
		if t.name == name {
			return t, true
		}
	}
	return token{}, false
}

// prfForInteg is the PRF strongSwan implies for an integrity keyword when a
// non-AEAD IKE proposal names no PRF.
func prfForInteg(i IntegID) PRFID {
	switch i {
	case IntegHMACSHA1_96:
		return PRFHMACSHA1
	case IntegHMACSHA2_256128:
		return PRFHMACSHA2_256
	case IntegHMACSHA2_384192:
		return PRFHMACSHA2_384
	case IntegHMACSHA2_512256:
		return PRFHMACSHA2_512
	}
	return 0
}

// ParseProposal parses one proposal in strongSwan's syntax, algorithms
// joined by '-': "aes128-sha256-modp2048", "aes256gcm16-prfsha256-ecp256",
// "aes128gcm16" (ESP), "aes128-sha256-esn". Several algorithms of a type
// may be listed, most preferred first. Rules:
//   - AEAD and non-AEAD ciphers never share a proposal (RFC 7296 3.3).
//   - IKE: an AEAD proposal needs a PRF and takes no integrity algorithm; a
//     non-AEAD one needs an integrity algorithm and, when no PRF is named,
//     gets the PRFs matching its integrity algorithms; at least one DH group.
//   - ESP: a non-AEAD proposal needs an integrity algorithm; no PRF; DH
//     groups mean PFS; ESN defaults to noesn.
//
// MODP-1024 is accepted only because it is named here: defaults never hold it.
func ParseProposal(protocol wire.ProtocolID, s string) (Proposal, error) {
	p := Proposal{Protocol: protocol}
	if protocol != wire.ProtocolIKE && protocol != wire.ProtocolESP {
		return p, fmt.Errorf("%w: protocol %v", ErrInvalidProposal, protocol)
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return p, fmt.Errorf("%w: empty", ErrInvalidProposal)
	}
	for _, name := range strings.Split(s, "-") {
		t, ok := lookupToken(name)
		if !ok {
			return p, fmt.Errorf("%w %q: unknown algorithm %q", ErrInvalidProposal, s, name)
		}
		switch t.kind {
		case wire.TransformENCR:
			p.Encr = appendUnique(p.Encr, Encr{ID: EncrID(t.id), KeyBits: t.bits})
		case wire.TransformINTEG:
			p.Integ = appendUnique(p.Integ, IntegID(t.id))
		case wire.TransformPRF:
			p.PRF = appendUnique(p.PRF, PRFID(t.id))
		case wire.TransformDH:
			p.DH = appendUnique(p.DH, DHGroup(t.id))
		case wire.TransformESN:
			p.ESN = appendUnique(p.ESN, ESN(t.id))
		}
	}
	if protocol == wire.ProtocolIKE && len(p.PRF) == 0 && len(p.Encr) > 0 && !p.Encr[0].ID.AEAD() {
		for _, i := range p.Integ {
			p.PRF = appendUnique(p.PRF, prfForInteg(i))
		}
	}
	if protocol == wire.ProtocolESP && len(p.ESN) == 0 {
		p.ESN = []ESN{ESNNo}
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%q: %w", s, err)
	}
	return p, nil
}

// ParseProposals parses a comma-separated list of proposals.
func ParseProposals(protocol wire.ProtocolID, s string) ([]Proposal, error) {
	var out []Proposal
	for _, one := range strings.Split(s, ",") {
		p, err := ParseProposal(protocol, one)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// MustParseProposals is ParseProposals for constant strings; it panics on error.
func MustParseProposals(protocol wire.ProtocolID, s string) []Proposal {
	p, err := ParseProposals(protocol, s)
	if err != nil {
		panic(err)
	}
	return p
}

func appendUnique[T comparable](list []T, v T) []T {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// Validate checks the rules listed at ParseProposal and that every
// algorithm is one this package implements.
func (p Proposal) Validate() error {
	if len(p.Encr) == 0 {
		return fmt.Errorf("%w: no encryption algorithm", ErrInvalidProposal)
	}
	aead := p.Encr[0].ID.AEAD()
	for _, e := range p.Encr {
		if !encrSupported(e) {
			return fmt.Errorf("%w: unsupported cipher %v-%d", ErrInvalidProposal, e.ID, e.KeyBits)
		}
		if e.ID.AEAD() != aead {
			return fmt.Errorf("%w: AEAD and non-AEAD ciphers in one proposal", ErrInvalidProposal)
		}
	}
	for _, i := range p.Integ {
		if i.KeyLen() == 0 {
			return fmt.Errorf("%w: unsupported integrity algorithm %v", ErrInvalidProposal, i)
		}
	}
	for _, f := range p.PRF {
		if _, err := NewPRF(f); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidProposal, err)
		}
	}
	for _, g := range p.DH {
		if !dhSupported(g) {
			return fmt.Errorf("%w: unsupported DH group %v", ErrInvalidProposal, g)
		}
	}
	switch {
	case aead && len(p.Integ) > 0:
		return fmt.Errorf("%w: an AEAD cipher takes no integrity algorithm", ErrInvalidProposal)
	case !aead && len(p.Integ) == 0:
		return fmt.Errorf("%w: a non-AEAD cipher needs an integrity algorithm", ErrInvalidProposal)
	}
	switch p.Protocol {
	case wire.ProtocolIKE:
		switch {
		case len(p.PRF) == 0:
			return fmt.Errorf("%w: IKE proposal needs a PRF", ErrInvalidProposal)
		case len(p.DH) == 0:
			return fmt.Errorf("%w: IKE proposal needs a DH group", ErrInvalidProposal)
		case len(p.ESN) > 0:
			return fmt.Errorf("%w: ESN in an IKE proposal", ErrInvalidProposal)
		}
	case wire.ProtocolESP:
		switch {
		case len(p.PRF) > 0:
			return fmt.Errorf("%w: PRF in an ESP proposal", ErrInvalidProposal)
		case len(p.ESN) == 0:
			return fmt.Errorf("%w: ESP proposal needs an ESN transform", ErrInvalidProposal)
		}
	default:
		return fmt.Errorf("%w: protocol %v", ErrInvalidProposal, p.Protocol)
	}
	return nil
}

func encrSupported(e Encr) bool {
	switch e.ID {
	case EncrAESCBC, EncrAESGCM16:
		return e.KeyBits == 128 || e.KeyBits == 256
	case EncrChaCha20Poly1305:
		return e.KeyBits == 256
	}
	return false
}

func dhSupported(g DHGroup) bool {
	switch g {
	case DHMODP1024, DHMODP2048, DHMODP3072, DHMODP4096, DHECP256, DHECP384, DHCurve25519:
		return true
	}
	return false
}

// String gives the proposal back in strongSwan syntax.
func (p Proposal) String() string {
	var parts []string
	for _, e := range p.Encr {
		parts = append(parts, encrName(e))
	}
	for _, i := range p.Integ {
		parts = append(parts, nameOf(wire.TransformINTEG, uint16(i)))
	}
	for _, f := range p.PRF {
		parts = append(parts, nameOf(wire.TransformPRF, uint16(f)))
	}
	for _, g := range p.DH {
		parts = append(parts, nameOf(wire.TransformDH, uint16(g)))
	}
	for _, e := range p.ESN {
		parts = append(parts, nameOf(wire.TransformESN, uint16(e)))
	}
	return strings.Join(parts, "-")
}

func encrName(e Encr) string {
	for _, t := range tokens {
		if t.kind == wire.TransformENCR && EncrID(t.id) == e.ID && t.bits == e.KeyBits {
			return t.name
		}
	}
	return fmt.Sprintf("%v-%d", e.ID, e.KeyBits)
}

func nameOf(kind wire.TransformType, id uint16) string {
	for _, t := range tokens {
		if t.kind == kind && t.id == id {
			return t.name
		}
	}
	return fmt.Sprintf("%v(%d)", kind, id)
}

// Wire converts p into a proposal substructure with the given number and
// SPI (empty in IKE_SA_INIT, 8 bytes when rekeying an IKE SA, 4 for ESP).
// Transforms go in type order ENCR, PRF, INTEG, DH, ESN, each type in p's
// order of preference. AES carries a Key Length attribute; ChaCha20-Poly1305
// none (RFC 7634 3).
func (p Proposal) Wire(number uint8, spi []byte) wire.Proposal {
	wp := wire.Proposal{Number: number, Protocol: p.Protocol, SPI: spi}
	ts := make([]wire.Transform, 0, len(p.Encr)+len(p.PRF)+len(p.Integ)+len(p.DH)+len(p.ESN))
	for _, e := range p.Encr {
		t := wire.Transform{Type: wire.TransformENCR, ID: uint16(e.ID)}
		if e.ID != EncrChaCha20Poly1305 {
			t.KeyLength = uint16(e.KeyBits)
		}
		ts = append(ts, t)
	}
	for _, f := range p.PRF {
		ts = append(ts, wire.Transform{Type: wire.TransformPRF, ID: uint16(f)})
	}
	for _, i := range p.Integ {
		ts = append(ts, wire.Transform{Type: wire.TransformINTEG, ID: uint16(i)})
	}
	for _, g := range p.DH {
		ts = append(ts, wire.Transform{Type: wire.TransformDH, ID: uint16(g)})
	}
	for _, e := range p.ESN {
		ts = append(ts, wire.Transform{Type: wire.TransformESN, ID: uint16(e)})
	}
	wp.Transforms = ts
	return wp
}

// WireProposals numbers ps from 1 and converts them, all with the same SPI:
// the SA payload an initiator sends.
func WireProposals(ps []Proposal, spi []byte) []wire.Proposal {
	out := make([]wire.Proposal, len(ps))
	for i, p := range ps {
		out[i] = p.Wire(uint8(i+1), spi)
	}
	return out
}

// FromWire converts a received proposal, keeping only transforms this
// package implements (an unknown transform can never be chosen). It does
// not apply Validate: a peer's offer may list any mix.
func FromWire(wp wire.Proposal) Proposal {
	p := Proposal{Protocol: wp.Protocol}
	for _, t := range wp.Transforms {
		if t.UnknownAttributes {
			continue
		}
		switch t.Type {
		case wire.TransformENCR:
			e := Encr{ID: EncrID(t.ID), KeyBits: int(t.KeyLength)}
			if e.ID == EncrChaCha20Poly1305 && e.KeyBits == 0 {
				e.KeyBits = 256
			}
			if encrSupported(e) {
				p.Encr = appendUnique(p.Encr, e)
			}
		case wire.TransformPRF:
			if _, err := NewPRF(PRFID(t.ID)); err == nil {
				p.PRF = appendUnique(p.PRF, PRFID(t.ID))
			}
		case wire.TransformINTEG:
			if IntegID(t.ID).KeyLen() > 0 {
				p.Integ = appendUnique(p.Integ, IntegID(t.ID))
			}
		case wire.TransformDH:
			if dhSupported(DHGroup(t.ID)) {
				p.DH = appendUnique(p.DH, DHGroup(t.ID))
			}
		case wire.TransformESN:
			if t.ID <= uint16(ESNYes) {
				p.ESN = appendUnique(p.ESN, ESN(t.ID))
			}
		}
	}
	return p
}
