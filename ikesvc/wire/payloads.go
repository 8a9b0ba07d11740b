package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Payload is one decoded or to-be-encoded payload. The set is closed: the
// types in this file are all there is, and unknown payloads are skipped by
// Decode (or rejected when critical).
type Payload interface {
	PayloadType() PayloadType
	// appendBody appends the payload body, without the generic header.
	appendBody(b []byte) ([]byte, error)
}

// SA is the Security Association payload (RFC 7296 3.3).
type SA struct {
	Proposals []Proposal
}

// Proposal is one proposal substructure. Number starts at 1 and a responder
// echoes the number of the proposal it chose.
type Proposal struct {
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte // empty for IKE_SA_INIT, 8 bytes for IKE rekeys, 4 for ESP/AH
	Transforms []Transform
}

// Transform is one transform substructure. Transform IDs are in package suite.
type Transform struct {
	Type TransformType
	ID   uint16
	// KeyLength in bits from the Key Length attribute; 0 when absent.
	KeyLength uint16
	// UnknownAttributes is set by Decode when the transform carried an
	// attribute other than Key Length; RFC 7296 3.3.6 says to reject such a
	// transform. Encode ignores it.
	UnknownAttributes bool
}

// KE is the Key Exchange payload (RFC 7296 3.4).
type KE struct {
	Group uint16 // DH group (transform type 4 ID)
	Data  []byte
}

// ID is the IDi or IDr payload (RFC 7296 3.5).
type ID struct {
	Responder bool // IDr when set, IDi otherwise
	Type      IDType
	Data      []byte
}

// Cert is the Certificate payload (RFC 7296 3.6).
type Cert struct {
	Encoding CertEncoding
	Data     []byte // DER certificate for CertX509Signature
}

// CertRequest is the Certificate Request payload (RFC 7296 3.7). For
// CertX509Signature, Data is a concatenation of 20-byte SHA-1 hashes of
// trusted CAs' SubjectPublicKeyInfo (see CAHash and Authorities).
type CertRequest struct {
	Encoding CertEncoding
	Data     []byte
}

// Auth is the Authentication payload (RFC 7296 3.8). For
// AuthDigitalSignature, Data is built by AppendSignatureAuth.
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Nonce is the Nonce payload (RFC 7296 3.9): 16 to 256 bytes.
type Nonce struct {
	Data []byte
}

// Notify is the Notify payload (RFC 7296 3.10).
type Notify struct {
	Protocol ProtocolID // ProtocolNone unless it concerns an SA
	SPI      []byte
	Type     NotifyType
	Data     []byte
}

// Delete is the Delete payload (RFC 7296 3.11). For ProtocolIKE SPIs is
// empty (the IKE SA carrying it is deleted); ESP and AH SPIs are 4 bytes.
type Delete struct {
	Protocol ProtocolID
	SPIs     []uint32
}

// VendorID is the Vendor ID payload (RFC 7296 3.12).
type VendorID struct {
	Data []byte
}

// TrafficSelectors is the TSi or TSr payload (RFC 7296 3.13).
type TrafficSelectors struct {
	Responder bool // TSr when set, TSi otherwise
	Selectors []TrafficSelector
}

// TrafficSelector is one TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE selector,
// chosen by the family of StartAddr (EndAddr must match it).
type TrafficSelector struct {
	IPProtocol         uint8 // 0 for any
	StartPort, EndPort uint16
	StartAddr, EndAddr netip.Addr
}

// Config is the Configuration payload (RFC 7296 3.15), kept minimal: the
// attributes are passed through undecoded.
type Config struct {
	Type       CPType
	Attributes []ConfigAttribute
}

// ConfigAttribute is one configuration attribute (type without the R bit).
type ConfigAttribute struct {
	Type  uint16
	Value []byte
}

func (*SA) PayloadType() PayloadType          { return PayloadSA }
func (*KE) PayloadType() PayloadType          { return PayloadKE }
func (*Cert) PayloadType() PayloadType        { return PayloadCERT }
func (*CertRequest) PayloadType() PayloadType { return PayloadCERTREQ }
func (*Auth) PayloadType() PayloadType        { return PayloadAUTH }
func (*Nonce) PayloadType() PayloadType       { return PayloadNonce }
func (*Notify) PayloadType() PayloadType      { return PayloadNotify }
func (*Delete) PayloadType() PayloadType      { return PayloadDelete }
func (*VendorID) PayloadType() PayloadType    { return PayloadVendorID }
func (*Config) PayloadType() PayloadType      { return PayloadCP }

func (p *ID) PayloadType() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

func (p *TrafficSelectors) PayloadType() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

func (p *SA) appendBody(b []byte) ([]byte, error) {
	if len(p.Proposals) == 0 || len(p.Proposals) > 255 {
		return b, errAt(ErrInvalidSyntax, "encode SA", len(b), strconv.Itoa(len(p.Proposals))+" proposals")
	}
	for i := range p.Proposals {
		pr := &p.Proposals[i]
		if len(pr.SPI) > 255 || len(pr.Transforms) > 255 {
			return b, errAt(ErrInvalidSyntax, "encode proposal", len(b), "SPI or transform count over 255")
		}
		start := len(b)
		last := byte(2)
		if i == len(p.Proposals)-1 {
			last = 0
		}
		b = append(b, last, 0, 0, 0, pr.Number, byte(pr.Protocol), byte(len(pr.SPI)), byte(len(pr.Transforms)))
		b = append(b, pr.SPI...)
		for j, t := range pr.Transforms {
			tstart := len(b)
			last := byte(3)
			if j == len(pr.Transforms)-1 {
				last = 0
			}
			b = append(b, last, 0, 0, 0, byte(t.Type), 0)
			b = binary.BigEndian.AppendUint16(b, t.ID)
			if t.KeyLength != 0 {
				// TV format: AF bit set, the value in place of the length.
				b = binary.BigEndian.AppendUint16(b, 0x8000|AttributeKeyLength)
				b = binary.BigEndian.AppendUint16(b, t.KeyLength)
			}
			binary.BigEndian.PutUint16(b[tstart+2:], uint16(len(b)-tstart))
		}
		if len(b)-start > 0xffff {
			return b, errAt(ErrTooLarge, "encode proposal", start, "")
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b, nil
}

func (p *KE) appendBody(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, p.Group)
	b = append(b, 0, 0)
	return append(b, p.Data...), nil
}

func (p *ID) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(p.Type), 0, 0, 0)
	return append(b, p.Data...), nil
}

func (p *Cert) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(p.Encoding))
	return append(b, p.Data...), nil
}

func (p *CertRequest) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(p.Encoding))
	return append(b, p.Data...), nil
}

func (p *Auth) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(p.Method), 0, 0, 0)
	return append(b, p.Data...), nil
}

func (p *Nonce) appendBody(b []byte) ([]byte, error) {
	return append(b, p.Data...), nil
}

func (p *VendorID) appendBody(b []byte) ([]byte, error) {
	return append(b, p.Data...), nil
}

func (p *Notify) appendBody(b []byte) ([]byte, error) {
	if len(p.SPI) > 255 {
		return b, errAt(ErrInvalidSyntax, "encode notify", len(b), "SPI over 255 bytes")
	}
	b = append(b, byte(p.Protocol), byte(len(p.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(p.Type))
	b = append(b, p.SPI...)
	return append(b, p.Data...), nil
}

func (p *Delete) appendBody(b []byte) ([]byte, error) {
	spiSize := byte(4)
	if p.Protocol == ProtocolIKE {
		if len(p.SPIs) != 0 {
			return b, errAt(ErrInvalidSyntax, "encode delete", len(b), "IKE delete carries no SPIs")
		}
		spiSize = 0
	}
	if len(p.SPIs) > 0xffff {
		return b, errAt(ErrTooLarge, "encode delete", len(b), "")
	}
	b = append(b, byte(p.Protocol), spiSize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.SPIs)))
	for _, spi := range p.SPIs {
		b = binary.BigEndian.AppendUint32(b, spi)
	}
	return b, nil
}

func (p *TrafficSelectors) appendBody(b []byte) ([]byte, error) {
	if len(p.Selectors) == 0 || len(p.Selectors) > 255 {
		return b, errAt(ErrInvalidSyntax, "encode TS", len(b), strconv.Itoa(len(p.Selectors))+" selectors")
	}
	b = append(b, byte(len(p.Selectors)), 0, 0, 0)
	for _, s := range p.Selectors {
		switch {
		case s.StartAddr.Is4() && s.EndAddr.Is4():
			b = append(b, byte(TSIPv4Range), s.IPProtocol, 0, 16)
			b = binary.BigEndian.AppendUint16(b, s.StartPort)
			b = binary.BigEndian.AppendUint16(b, s.EndPort)
			a, e := s.StartAddr.As4(), s.EndAddr.As4()
			b = append(append(b, a[:]...), e[:]...)
		case s.StartAddr.Is6() && s.EndAddr.Is6() && !s.StartAddr.Is4In6() && !s.EndAddr.Is4In6():
			b = append(b, byte(TSIPv6Range), s.IPProtocol, 0, 40)
			b = binary.BigEndian.AppendUint16(b, s.StartPort)
			b = binary.BigEndian.AppendUint16(b, s.EndPort)
			a, e := s.StartAddr.As16(), s.EndAddr.As16()
			b = append(append(b, a[:]...), e[:]...)
		default:
			return b, errAt(ErrInvalidSyntax, "encode TS", len(b), "addresses "+s.StartAddr.String()+"-"+s.EndAddr.String()+" are not one family")
		}
	}
	return b, nil
}

func (p *Config) appendBody(b []byte) ([]byte, error) {
	b = append(b, byte(p.Type), 0, 0, 0)
	for _, a := range p.Attributes {
		if a.Type > 0x7fff || len(a.Value) > 0xffff {
			return b, errAt(ErrInvalidSyntax, "encode CP", len(b), "attribute type or length out of range")
		}
		b = binary.BigEndian.AppendUint16(b, a.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}
