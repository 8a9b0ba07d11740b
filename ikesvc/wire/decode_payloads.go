package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Minimum sizes of fixed parts, used to bound counts before allocating.
const (
	proposalHeaderLen  = 8
	transformHeaderLen = 8
	tsIPv4Len          = 16
	tsIPv6Len          = 40
)

// decodeBody decodes the body of a payload of type t found at offset off.
// ok is false for types this package does not decode (the caller skips or
// rejects them).
func decodeBody(t PayloadType, body []byte, off int) (p Payload, ok bool, err error) {
	switch t {
	case PayloadSA:
		p, err = decodeSA(body, off)
	case PayloadKE:
		if len(body) < 4 {
			return nil, true, errAt(ErrTruncated, "KE payload", off, "")
		}
		p = &KE{Group: binary.BigEndian.Uint16(body), Data: nilIfEmpty(body[4:])}
	case PayloadIDi, PayloadIDr:
		if len(body) < 4 {
			return nil, true, errAt(ErrTruncated, t.String()+" payload", off, "")
		}
		p = &ID{Responder: t == PayloadIDr, Type: IDType(body[0]), Data: nilIfEmpty(body[4:])}
	case PayloadCERT:
		if len(body) < 1 {
			return nil, true, errAt(ErrTruncated, "CERT payload", off, "")
		}
		p = &Cert{Encoding: CertEncoding(body[0]), Data: nilIfEmpty(body[1:])}
	case PayloadCERTREQ:
		if len(body) < 1 {
			return nil, true, errAt(ErrTruncated, "CERTREQ payload", off, "")
		}
		p = &CertRequest{Encoding: CertEncoding(body[0]), Data: nilIfEmpty(body[1:])}
	case PayloadAUTH:
		if len(body) < 4 {
			return nil, true, errAt(ErrTruncated, "AUTH payload", off, "")
		}
		p = &Auth{Method: AuthMethod(body[0]), Data: nilIfEmpty(body[4:])}
	case PayloadNonce:
		// RFC 7296 2.10: at least 128 bits and at most 2048 bits.
		if len(body) < 16 || len(body) > 256 {
			return nil, true, errAt(ErrInvalidSyntax, "nonce payload", off, "length "+strconv.Itoa(len(body)))
		}
		p = &Nonce{Data: body}
	case PayloadNotify:
		p, err = decodeNotify(body, off)
	case PayloadDelete:
		p, err = decodeDelete(body, off)
	case PayloadVendorID:
		p = &VendorID{Data: nilIfEmpty(body)}
	case PayloadTSi, PayloadTSr:
		p, err = decodeTS(t == PayloadTSr, body, off)
	case PayloadCP:
		p, err = decodeConfig(body, off)
	default:
		return nil, false, nil
	}
	return p, true, err
}

func decodeSA(body []byte, off int) (*SA, error) {
	// Count first so the slice is allocated once; each proposal is at least
	// 8 bytes, so the count is bounded by the payload size.
	n := 0
	for rest := body; len(rest) > 0; n++ {
		if len(rest) < proposalHeaderLen {
			return nil, errAt(ErrTruncated, "proposal", off+len(body)-len(rest), "")
		}
		l := int(binary.BigEndian.Uint16(rest[2:4]))
		if l < proposalHeaderLen || l > len(rest) {
			return nil, errAt(ErrPayloadLength, "proposal", off+len(body)-len(rest), "length "+strconv.Itoa(l))
		}
		last := rest[0]
		rest = rest[l:]
		if (last == 0) != (len(rest) == 0) || (last != 0 && last != 2) {
			return nil, errAt(ErrInvalidSyntax, "proposal", off+len(body)-len(rest)-l, "last-substructure "+strconv.Itoa(int(last)))
		}
	}
	if n == 0 {
		return nil, errAt(ErrInvalidSyntax, "SA payload", off, "no proposals")
	}
	sa := &SA{Proposals: make([]Proposal, n)}
	pos := 0
	for i := range sa.Proposals {
		l := int(binary.BigEndian.Uint16(body[pos+2:]))
		if err := decodeProposal(&sa.Proposals[i], body[pos:pos+l], off+pos); err != nil {
			return nil, err
		}
		pos += l
	}
	return sa, nil
}

func decodeProposal(pr *Proposal, b []byte, off int) error {
	pr.Number = b[4]
	pr.Protocol = ProtocolID(b[5])
	spiSize := int(b[6])
	numT := int(b[7])
	rest := b[proposalHeaderLen:]
	if spiSize > len(rest) {
		return errAt(ErrTruncated, "proposal SPI", off+proposalHeaderLen, "size "+strconv.Itoa(spiSize))
	}
	if spiSize > 0 {
		pr.SPI = rest[:spiSize]
	}
	rest = rest[spiSize:]
	if numT*transformHeaderLen > len(rest) {
		return errAt(ErrTruncated, "proposal", off, strconv.Itoa(numT)+" transforms do not fit")
	}
	if numT > 0 {
		pr.Transforms = make([]Transform, numT)
	}
	for i := range pr.Transforms {
		toff := off + len(b) - len(rest)
		if len(rest) < transformHeaderLen {
			return errAt(ErrTruncated, "transform", toff, "")
		}
		l := int(binary.BigEndian.Uint16(rest[2:4]))
		if l < transformHeaderLen || l > len(rest) {
			return errAt(ErrPayloadLength, "transform", toff, "length "+strconv.Itoa(l))
		}
		if last := rest[0]; (last == 0) != (i == numT-1) || (last != 0 && last != 3) {
			return errAt(ErrInvalidSyntax, "transform", toff, "last-substructure "+strconv.Itoa(int(last)))
		}
		t := &pr.Transforms[i]
		t.Type = TransformType(rest[4])
		t.ID = binary.BigEndian.Uint16(rest[6:8])
		if err := decodeAttributes(t, rest[transformHeaderLen:l], toff+transformHeaderLen); err != nil {
			return err
		}
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return errAt(ErrTrailingData, "proposal", off+len(b)-len(rest), strconv.Itoa(len(rest))+" bytes after the transforms")
	}
	return nil
}

func decodeAttributes(t *Transform, b []byte, off int) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return errAt(ErrTruncated, "transform attribute", off, "")
		}
		typ := binary.BigEndian.Uint16(b)
		if typ&0x8000 != 0 { // TV: the value is the second half
			if typ&0x7fff == AttributeKeyLength {
				t.KeyLength = binary.BigEndian.Uint16(b[2:])
			} else {
				t.UnknownAttributes = true
			}
			b, off = b[4:], off+4
			continue
		}
		l := int(binary.BigEndian.Uint16(b[2:]))
		if 4+l > len(b) {
			return errAt(ErrTruncated, "transform attribute", off, "length "+strconv.Itoa(l))
		}
		t.UnknownAttributes = true
		b, off = b[4+l:], off+4+l
	}
	return nil
}

func decodeNotify(body []byte, off int) (*Notify, error) {
	if len(body) < 4 {
		return nil, errAt(ErrTruncated, "notify payload", off, "")
	}
	spiSize := int(body[1])
	if 4+spiSize > len(body) {
		return nil, errAt(ErrTruncated, "notify SPI", off+4, "size "+strconv.Itoa(spiSize))
	}
	n := &Notify{
		Protocol: ProtocolID(body[0]),
		Type:     NotifyType(binary.BigEndian.Uint16(body[2:])),
		Data:     nilIfEmpty(body[4+spiSize:]),
	}
	if spiSize > 0 {
		n.SPI = body[4 : 4+spiSize]
	}
	return n, nil
}

func decodeDelete(body []byte, off int) (*Delete, error) {
	if len(body) < 4 {
		return nil, errAt(ErrTruncated, "delete payload", off, "")
	}
	d := &Delete{Protocol: ProtocolID(body[0])}
	spiSize, num := int(body[1]), int(binary.BigEndian.Uint16(body[2:]))
	rest := body[4:]
	switch {
	case d.Protocol == ProtocolIKE && spiSize == 0 && num == 0 && len(rest) == 0:
		return d, nil
	case (d.Protocol == ProtocolESP || d.Protocol == ProtocolAH) && spiSize == 4:
	default:
		return nil, errAt(ErrInvalidSyntax, "delete payload", off, "protocol "+d.Protocol.String()+" with SPI size "+strconv.Itoa(spiSize))
	}
	if num*4 != len(rest) {
		return nil, errAt(ErrPayloadLength, "delete payload", off, strconv.Itoa(num)+" SPIs in "+strconv.Itoa(len(rest))+" bytes")
	}
	d.SPIs = make([]uint32, num)
	for i := range d.SPIs {
		d.SPIs[i] = binary.BigEndian.Uint32(rest[4*i:])
	}
	return d, nil
}

func decodeTS(responder bool, body []byte, off int) (*TrafficSelectors, error) {
	if len(body) < 4 {
		return nil, errAt(ErrTruncated, "TS payload", off, "")
	}
	num := int(body[0])
	rest := body[4:]
	if num == 0 || num*tsIPv4Len > len(rest) {
		return nil, errAt(ErrInvalidSyntax, "TS payload", off, strconv.Itoa(num)+" selectors in "+strconv.Itoa(len(rest))+" bytes")
	}
	ts := &TrafficSelectors{Responder: responder, Selectors: make([]TrafficSelector, 0, num)}
	for i := 0; i < num; i++ {
		soff := off + len(body) - len(rest)
		if len(rest) < 4 {
			return nil, errAt(ErrTruncated, "traffic selector", soff, "")
		}
		typ, l := TSType(rest[0]), int(binary.BigEndian.Uint16(rest[2:]))
		if l < 8 || l > len(rest) {
			return nil, errAt(ErrPayloadLength, "traffic selector", soff, "length "+strconv.Itoa(l))
		}
		s := TrafficSelector{
			IPProtocol: rest[1],
			StartPort:  binary.BigEndian.Uint16(rest[4:]),
			EndPort:    binary.BigEndian.Uint16(rest[6:]),
		}
		switch typ {
		case TSIPv4Range:
			if l != tsIPv4Len {
				return nil, errAt(ErrPayloadLength, "IPv4 traffic selector", soff, "length "+strconv.Itoa(l))
			}
			s.StartAddr = netip.AddrFrom4([4]byte(rest[8:12]))
			s.EndAddr = netip.AddrFrom4([4]byte(rest[12:16]))
			ts.Selectors = append(ts.Selectors, s)
		case TSIPv6Range:
			if l != tsIPv6Len {
				return nil, errAt(ErrPayloadLength, "IPv6 traffic selector", soff, "length "+strconv.Itoa(l))
			}
			s.StartAddr = netip.AddrFrom16([16]byte(rest[8:24]))
			s.EndAddr = netip.AddrFrom16([16]byte(rest[24:40]))
			ts.Selectors = append(ts.Selectors, s)
		default:
			// Other selector types (e.g. Fibre Channel, RFC 4595) are skipped;
			// narrowing then sees only what we understand.
		}
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return nil, errAt(ErrTrailingData, "TS payload", off+len(body)-len(rest), "")
	}
	return ts, nil
}

func decodeConfig(body []byte, off int) (*Config, error) {
	if len(body) < 4 {
		return nil, errAt(ErrTruncated, "CP payload", off, "")
	}
	c := &Config{Type: CPType(body[0])}
	rest := body[4:]
	// Each attribute has a 4-byte header: count bounds the allocation.
	n := 0
	for r := rest; len(r) > 0; n++ {
		if len(r) < 4 {
			return nil, errAt(ErrTruncated, "CP attribute", off+len(body)-len(r), "")
		}
		l := int(binary.BigEndian.Uint16(r[2:]))
		if 4+l > len(r) {
			return nil, errAt(ErrPayloadLength, "CP attribute", off+len(body)-len(r), "length "+strconv.Itoa(l))
		}
		r = r[4+l:]
	}
	if n > 0 {
		c.Attributes = make([]ConfigAttribute, n)
	}
	for i := range c.Attributes {
		l := int(binary.BigEndian.Uint16(rest[2:]))
		c.Attributes[i] = ConfigAttribute{Type: binary.BigEndian.Uint16(rest) & 0x7fff, Value: nilIfEmpty(rest[4 : 4+l])}
		rest = rest[4+l:]
	}
	return c, nil
}

// nilIfEmpty keeps "absent" and "empty" the same value for callers and tests.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
