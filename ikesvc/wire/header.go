package wire

import (
	"encoding/binary"
	"strconv"
)

// Header is the fixed IKE header (RFC 7296 3.1).
type Header struct {
	InitiatorSPI uint64
	ResponderSPI uint64
	// NextPayload is the type of the first payload. Encode fills it in.
	NextPayload PayloadType
	// MajorVersion and MinorVersion as received; Encode always writes 2.0.
	MajorVersion, MinorVersion uint8
	Exchange                   ExchangeType
	Flags                      Flags
	MessageID                  uint32
	// Length of the whole message. Encode fills it in.
	Length uint32
}

// IsResponse reports whether the R flag is set.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// FromInitiator reports whether the I flag is set (sent by the original initiator).
func (h *Header) FromInitiator() bool { return h.Flags&FlagInitiator != 0 }

// ParseHeader decodes the IKE header at the start of b and checks the length
// field against len(b): the receiver calls it first to find the IKE SA (by
// SPIs) whose keys open the rest. On ErrInvalidMajorVersion the returned
// header is still filled in, so the caller can answer INVALID_MAJOR_VERSION.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, errAt(ErrTruncated, "IKE header", 0, "")
	}
	h.InitiatorSPI = binary.BigEndian.Uint64(b[0:8])
	h.ResponderSPI = binary.BigEndian.Uint64(b[8:16])
	h.NextPayload = PayloadType(b[16])
	h.MajorVersion, h.MinorVersion = b[17]>>4, b[17]&0x0f
	h.Exchange = ExchangeType(b[18])
	h.Flags = Flags(b[19])
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	switch {
	case h.MajorVersion != 2:
		return h, errAt(ErrInvalidMajorVersion, "IKE header", 17, "major version "+strconv.Itoa(int(h.MajorVersion)))
	case h.Length < HeaderLen:
		return h, errAt(ErrPayloadLength, "IKE header", 24, "length "+strconv.Itoa(int(h.Length)))
	case uint64(h.Length) > uint64(len(b)):
		return h, errAt(ErrTruncated, "IKE header", 24, "length "+strconv.Itoa(int(h.Length))+" > datagram "+strconv.Itoa(len(b)))
	case uint64(h.Length) < uint64(len(b)):
		return h, errAt(ErrTrailingData, "IKE header", 24, "length "+strconv.Itoa(int(h.Length))+" < datagram "+strconv.Itoa(len(b)))
	}
	return h, nil
}

// appendHeader writes h with version 2.0; NextPayload and Length are patched later.
func appendHeader(b []byte, h *Header) []byte {
	b = binary.BigEndian.AppendUint64(b, h.InitiatorSPI)
	b = binary.BigEndian.AppendUint64(b, h.ResponderSPI)
	b = append(b, byte(h.NextPayload), 0x20, byte(h.Exchange), byte(h.Flags))
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, h.Length)
}
