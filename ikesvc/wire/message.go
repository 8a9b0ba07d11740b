package wire

import (
	"encoding/binary"
	"strconv"
)

// Message is one IKE message: the header, the cleartext payloads, and, when
// Encrypted, the payloads carried inside the SK payload.
type Message struct {
	Header
	// Payloads are the cleartext payloads in order (those of IKE_SA_INIT,
	// or any sent before the SK payload). The SK payload itself is not listed.
	Payloads []Payload
	// Encrypted says the message ends with an SK payload holding Protected.
	Encrypted bool
	// Protected are the payloads inside the SK payload, in order.
	Protected []Payload
	// Fragment is set by Decode when the message carried an SKF payload
	// (RFC 7383); feed it to a Reassembler. Protected is then empty.
	Fragment *Fragment
}

// All returns the payloads in wire order: cleartext ones, then protected ones.
func (m *Message) All() []Payload {
	if len(m.Protected) == 0 {
		return m.Payloads
	}
	if len(m.Payloads) == 0 {
		return m.Protected
	}
	all := make([]Payload, 0, len(m.Payloads)+len(m.Protected))
	return append(append(all, m.Payloads...), m.Protected...)
}

// Find returns the first payload of type t, protected payloads first (an
// encrypted message's meaning lives there), or nil.
func (m *Message) Find(t PayloadType) Payload {
	for _, p := range m.Protected {
		if p.PayloadType() == t {
			return p
		}
	}
	for _, p := range m.Payloads {
		if p.PayloadType() == t {
			return p
		}
	}
	return nil
}

// Notifies returns the Notify payloads of the message (protected ones first).
func (m *Message) Notifies() []*Notify {
	var out []*Notify
	for _, list := range [2][]Payload{m.Protected, m.Payloads} {
		for _, p := range list {
			if n, ok := p.(*Notify); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

// FindNotify returns the first Notify of type t, or nil.
func (m *Message) FindNotify(t NotifyType) *Notify {
	for _, list := range [2][]Payload{m.Protected, m.Payloads} {
		for _, p := range list {
			if n, ok := p.(*Notify); ok && n.Type == t {
				return n
			}
		}
	}
	return nil
}

// Encode returns the wire form of m. When m.Encrypted, c seals the SK
// payload (c must not be nil). Header.NextPayload and Header.Length are
// computed; the version written is 2.0. Encode does not modify m.
func (m *Message) Encode(c SKCipher) ([]byte, error) {
	return m.AppendEncode(make([]byte, 0, 512), c)
}

// AppendEncode is Encode appending to dst (which must not overlap m's data).
func (m *Message) AppendEncode(dst []byte, c SKCipher) ([]byte, error) {
	if m.Fragment != nil {
		return dst, errAt(ErrInvalidSyntax, "encode", 0, "a fragment is encoded with EncodeFragments")
	}
	start := len(dst)
	b := appendHeader(dst, &m.Header)
	b[start+16] = byte(PayloadNone) // computed below, never taken from m
	var err error
	prevNext := start + 16 // where the next-payload byte of the previous element is
	b, prevNext, err = appendChain(b, m.Payloads, prevNext)
	if err != nil {
		return dst, err
	}
	bodyStart := 0
	if m.Encrypted {
		if c == nil {
			return dst, errAt(ErrNoCipher, "encode", len(b)-start, "")
		}
		b[prevNext] = byte(PayloadSK)
		b, bodyStart, err = appendSK(b, m.Protected, c)
		if err != nil {
			return dst, err
		}
	} else if len(m.Protected) != 0 {
		return dst, errAt(ErrInvalidSyntax, "encode", 0, "protected payloads in an unencrypted message")
	}
	if len(b)-start > MaxMessageLen {
		return dst, errAt(ErrTooLarge, "encode", 0, strconv.Itoa(len(b)-start)+" bytes")
	}
	binary.BigEndian.PutUint32(b[start+24:], uint32(len(b)-start))
	if m.Encrypted {
		// The length is part of the authenticated data: seal last.
		if err := c.Seal(b[start:], bodyStart-start); err != nil {
			return dst, err
		}
	}
	return b, nil
}

// appendChain appends payloads with generic headers, linking each one's type
// into the next-payload byte at prevNext. It returns the position of the
// last next-payload byte written.
func appendChain(b []byte, payloads []Payload, prevNext int) ([]byte, int, error) {
	for _, p := range payloads {
		b[prevNext] = byte(p.PayloadType())
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		var err error
		b, err = p.appendBody(b)
		if err != nil {
			return b, prevNext, err
		}
		if len(b)-start > 0xffff {
			return b, prevNext, errAt(ErrTooLarge, "encode "+p.PayloadType().String(), start, strconv.Itoa(len(b)-start)+" bytes")
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
		prevNext = start
	}
	return b, prevNext, nil
}

// Decode parses a whole IKE message from b, which must be exactly one
// message (the UDP payload without the non-ESP marker). An SK or SKF
// payload is opened with c, in place; c may be nil for messages known to
// be cleartext (IKE_SA_INIT), and ErrNoCipher is returned if one shows up.
//
// The returned payloads alias b. Decode never panics, and allocates at most
// a small multiple of len(b).
func Decode(b []byte, c SKCipher) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	m := &Message{Header: h}
	next, pos := h.NextPayload, HeaderLen
	m.Payloads, next, pos, err = decodeChain(b, pos, next, true)
	if err != nil {
		return nil, err
	}
	switch next {
	case PayloadNone:
		return m, nil
	case PayloadSK:
		if err := m.openSK(b, pos, c); err != nil {
			return nil, err
		}
	case PayloadSKF:
		if err := m.openSKF(b, pos, c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decodeChain decodes payloads from b[pos:] starting with type next. With
// stopAtSK it returns when it meets an SK or SKF payload (not consumed);
// otherwise meeting one is a syntax error.
func decodeChain(b []byte, pos int, next PayloadType, stopAtSK bool) ([]Payload, PayloadType, int, error) {
	// Every payload takes at least 4 bytes: bound the slice by that.
	capHint := (len(b) - pos) / GenericHeaderLen
	if capHint > 8 {
		capHint = 8
	}
	payloads := make([]Payload, 0, capHint)
	for next != PayloadNone {
		if next == PayloadSK || next == PayloadSKF {
			if stopAtSK {
				return payloads, next, pos, nil
			}
			return nil, next, pos, errAt(ErrInvalidSyntax, next.String()+" payload", pos, "nested encrypted payload")
		}
		if len(b)-pos < GenericHeaderLen {
			return nil, next, pos, errAt(ErrTruncated, next.String()+" payload", pos, "")
		}
		l := int(binary.BigEndian.Uint16(b[pos+2:]))
		if l < GenericHeaderLen || l > len(b)-pos {
			return nil, next, pos, errAt(ErrPayloadLength, next.String()+" payload", pos, "length "+strconv.Itoa(l))
		}
		critical := b[pos+1]&0x80 != 0
		p, known, err := decodeBody(next, b[pos+GenericHeaderLen:pos+l], pos+GenericHeaderLen)
		if err != nil {
			return nil, next, pos, err
		}
		if !known && critical {
			return nil, next, pos, &CriticalPayloadError{Type: next}
		}
		if known {
			payloads = append(payloads, p)
		}
		next = PayloadType(b[pos])
		pos += l
	}
	if pos != len(b) {
		return nil, next, pos, errAt(ErrTrailingData, "payload chain", pos, strconv.Itoa(len(b)-pos)+" bytes after the last payload")
	}
	return payloads, next, pos, nil
}
