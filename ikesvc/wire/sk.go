package wire

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// SKCipher protects the body of SK and SKF payloads (RFC 7296 3.14, RFC 5282,
// RFC 7634). Package suite implements it for each negotiated suite; one
// value holds the keys of one direction (SK_ei/SK_ai or SK_er/SK_ar).
//
// Both methods work in place on a complete message msg (IKE header through
// ICV) and take bodyStart, the offset of the IV. msg[:bodyStart] is the IKE
// header, any cleartext payloads and the SK (or SKF) payload header: the
// associated data of an AEAD, and the start of what an integrity algorithm
// covers.
//
//	msg[:bodyStart]                         prefix (AAD / MAC input)
//	msg[bodyStart : bodyStart+IVLen()]      IV
//	msg[bodyStart+IVLen() : len-ICVLen()]   plaintext payloads, padding, pad length
//	msg[len-ICVLen():]                      ICV
type SKCipher interface {
	IVLen() int
	ICVLen() int
	// BlockSize is what plaintext plus the pad-length byte is padded to a
	// multiple of (16 for AES-CBC, 1 for the AEADs).
	BlockSize() int
	// Seal fills in the IV, encrypts the plaintext in place and writes the ICV.
	Seal(msg []byte, bodyStart int) error
	// Open checks the ICV and decrypts in place, returning the plaintext
	// (still with padding and the pad-length byte). Failures wrap ErrIntegrity.
	Open(msg []byte, bodyStart int) ([]byte, error)
}

// appendSK appends an SK payload holding inner, ready to be sealed once the
// message length is final. It returns the absolute offset of the IV.
func appendSK(b []byte, inner []Payload, c SKCipher) ([]byte, int, error) {
	skStart := len(b)
	b = append(b, 0, 0, 0, 0)
	b = appendZeros(b, c.IVLen())
	ptStart := len(b)
	b, _, err := appendChain(b, inner, skStart)
	if err != nil {
		return b, 0, err
	}
	b = appendPadding(b, len(b)-ptStart, c.BlockSize())
	b = appendZeros(b, c.ICVLen())
	if len(b)-skStart > 0xffff {
		return b, 0, errAt(ErrTooLarge, "encode SK", skStart, strconv.Itoa(len(b)-skStart)+" bytes")
	}
	binary.BigEndian.PutUint16(b[skStart+2:], uint16(len(b)-skStart))
	return b, skStart + GenericHeaderLen, nil
}

// appendPadding pads n plaintext bytes so that n, the padding and the
// pad-length byte fill whole blocks (RFC 7296 3.14; padding bytes are zero).
func appendPadding(b []byte, n, blockSize int) []byte {
	if blockSize < 1 {
		blockSize = 1
	}
	pad := (blockSize - (n+1)%blockSize) % blockSize
	b = appendZeros(b, pad)
	return append(b, byte(pad))
}

func appendZeros(b []byte, n int) []byte {
	for i := 0; i < n; i++ {
		b = append(b, 0)
	}
	return b
}

// openBody checks the SK or SKF payload at pos (whose fixed part after the
// generic header is extra bytes long), opens it with c and returns the
// plaintext without padding and the payload's next-payload byte.
func openBody(b []byte, pos, extra int, c SKCipher, name string) ([]byte, PayloadType, error) {
	if len(b)-pos < GenericHeaderLen+extra {
		return nil, 0, errAt(ErrTruncated, name+" payload", pos, "")
	}
	l := int(binary.BigEndian.Uint16(b[pos+2:]))
	switch {
	case l < GenericHeaderLen+extra || l > len(b)-pos:
		return nil, 0, errAt(ErrPayloadLength, name+" payload", pos, "length "+strconv.Itoa(l))
	case pos+l != len(b):
		return nil, 0, errAt(ErrInvalidSyntax, name+" payload", pos, "not the last payload")
	case c == nil:
		return nil, 0, errAt(ErrNoCipher, name+" payload", pos, "")
	}
	bodyStart := pos + GenericHeaderLen + extra
	if len(b)-bodyStart < c.IVLen()+c.ICVLen()+1 {
		return nil, 0, errAt(ErrTruncated, name+" payload", pos, "shorter than IV and ICV")
	}
	pt, err := c.Open(b, bodyStart)
	if err != nil {
		return nil, 0, fmt.Errorf("%s payload at offset %d: %w", name, pos, err)
	}
	// From here on the ICV has verified: errors are the sender's own.
	if len(pt) == 0 {
		return nil, 0, &ProtectedError{errAt(ErrInvalidSyntax, name+" payload", pos, "no pad length")}
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, 0, &ProtectedError{errAt(ErrInvalidSyntax, name+" payload", pos, "pad length "+strconv.Itoa(pad)+" exceeds plaintext")}
	}
	return pt[:len(pt)-1-pad], PayloadType(b[pos]), nil
}

func (m *Message) openSK(b []byte, pos int, c SKCipher) error {
	inner, first, err := openBody(b, pos, 0, c, "SK")
	if err != nil {
		return err
	}
	m.Encrypted = true
	m.Protected, _, _, err = decodeChain(inner, 0, first, false)
	if err != nil {
		return &ProtectedError{fmt.Errorf("inside SK payload: %w", err)}
	}
	return nil
}
