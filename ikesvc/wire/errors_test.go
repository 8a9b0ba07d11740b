package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// cleartext builds a header followed by the given raw payload chain.
func cleartext(first PayloadType, chain []byte) []byte {
	b := appendHeader(nil, &Header{InitiatorSPI: 1, Exchange: ExchangeIKESAInit, Flags: FlagInitiator})
	b[16] = byte(first)
	b = append(b, chain...)
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	return b
}

// payload builds one generic payload with the given next type, flags and body.
func payload(next PayloadType, critical bool, body []byte) []byte {
	flags := byte(0)
	if critical {
		flags = 0x80
	}
	b := []byte{byte(next), flags, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(4+len(body)))
	return append(b, body...)
}

func TestDecodeErrors(t *testing.T) {
	c := testCipher{key: 0x33, blockSize: 8}
	valid, err := sampleMessages()["IKE_SA_INIT request"].Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := sampleMessages()["IKE_AUTH request"].Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(src []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(src)) }
	nonce := bytes.Repeat([]byte{1}, 16)

	tests := []struct {
		name   string
		in     []byte
		want   error
		notify NotifyType // 0: no answer expected
	}{
		{"empty", nil, ErrTruncated, NotifyInvalidSyntax},
		{"short header", valid[:27], ErrTruncated, NotifyInvalidSyntax},
		{"version 1.0", mutate(valid, func(b []byte) []byte { b[17] = 0x10; return b }), ErrInvalidMajorVersion, NotifyInvalidMajorVersion},
		{"version 3.0", mutate(valid, func(b []byte) []byte { b[17] = 0x30; return b }), ErrInvalidMajorVersion, NotifyInvalidMajorVersion},
		{"length beyond datagram", valid[:len(valid)-1], ErrTruncated, NotifyInvalidSyntax},
		{"datagram beyond length", append(bytes.Clone(valid), 0), ErrTrailingData, NotifyInvalidSyntax},
		{"length under header", mutate(valid, func(b []byte) []byte { binary.BigEndian.PutUint32(b[24:], 20); return b }), ErrPayloadLength, NotifyInvalidSyntax},
		{"payload length 3", cleartext(PayloadNonce, []byte{0, 0, 0, 3}), ErrPayloadLength, NotifyInvalidSyntax},
		{"payload length past end", cleartext(PayloadNonce, []byte{0, 0, 0, 40, 1, 2}), ErrPayloadLength, NotifyInvalidSyntax},
		{"truncated generic header", cleartext(PayloadNonce, []byte{0, 0}), ErrTruncated, NotifyInvalidSyntax},
		{"trailing bytes after chain", cleartext(PayloadNonce, append(payload(PayloadNone, false, nonce), 0, 0)), ErrTrailingData, NotifyInvalidSyntax},
		{"short nonce", cleartext(PayloadNonce, payload(PayloadNone, false, []byte{1, 2})), ErrInvalidSyntax, NotifyInvalidSyntax},
		{"unknown critical payload", cleartext(PayloadType(200), payload(PayloadNone, true, []byte{1})), ErrUnsupportedCriticalPayload, NotifyUnsupportedCriticalPayload},
		{"SA with no proposals", cleartext(PayloadSA, payload(PayloadNone, false, nil)), ErrInvalidSyntax, NotifyInvalidSyntax},
		{"proposal length 4", cleartext(PayloadSA, payload(PayloadNone, false, []byte{0, 0, 0, 4, 1, 1, 0, 0})), ErrPayloadLength, NotifyInvalidSyntax},
		{"proposal claims 200 transforms", cleartext(PayloadSA, payload(PayloadNone, false, []byte{0, 0, 0, 8, 1, 1, 0, 200})), ErrTruncated, NotifyInvalidSyntax},
		{"proposal says more follow but none do", cleartext(PayloadSA, payload(PayloadNone, false, []byte{2, 0, 0, 8, 1, 1, 0, 0})), ErrInvalidSyntax, NotifyInvalidSyntax},
		{"transform length past proposal", cleartext(PayloadSA, payload(PayloadNone, false, []byte{0, 0, 0, 16, 1, 1, 0, 1, 0, 0, 0, 9, 1, 0, 0, 12})), ErrPayloadLength, NotifyInvalidSyntax},
		{"attribute truncated", cleartext(PayloadSA, payload(PayloadNone, false, []byte{0, 0, 0, 18, 1, 1, 0, 1, 0, 0, 0, 10, 1, 0, 0, 12, 0x80, 14})), ErrTruncated, NotifyInvalidSyntax},
		{"KE too short", cleartext(PayloadKE, payload(PayloadNone, false, []byte{0, 19})), ErrTruncated, NotifyInvalidSyntax},
		{"notify SPI past end", cleartext(PayloadNotify, payload(PayloadNone, false, []byte{3, 4, 0x40, 0x09, 1})), ErrTruncated, NotifyInvalidSyntax},
		{"delete SPI count mismatch", cleartext(PayloadDelete, payload(PayloadNone, false, []byte{3, 4, 0, 2, 1, 2, 3, 4})), ErrPayloadLength, NotifyInvalidSyntax},
		{"delete IKE with SPI size", cleartext(PayloadDelete, payload(PayloadNone, false, []byte{1, 8, 0, 0})), ErrInvalidSyntax, NotifyInvalidSyntax},
		{"TS count zero", cleartext(PayloadTSi, payload(PayloadNone, false, []byte{0, 0, 0, 0})), ErrInvalidSyntax, NotifyInvalidSyntax},
		{"TS count past data", cleartext(PayloadTSi, payload(PayloadNone, false, append([]byte{2, 0, 0, 0}, make([]byte, 16)...))), ErrInvalidSyntax, NotifyInvalidSyntax},
		{"IPv4 TS with IPv6 length", cleartext(PayloadTSi, payload(PayloadNone, false, append([]byte{1, 0, 0, 0, 7, 0, 0, 40}, make([]byte, 36)...))), ErrPayloadLength, NotifyInvalidSyntax},
		{"CP attribute past end", cleartext(PayloadCP, payload(PayloadNone, false, []byte{1, 0, 0, 0, 0, 1, 0, 9})), ErrPayloadLength, NotifyInvalidSyntax},
		{"SK without cipher", mutate(auth, func(b []byte) []byte { return b }), ErrNoCipher, 0},
		{"SK bad ICV", mutate(auth, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrIntegrity, 0},
		{"SK ciphertext flipped", mutate(auth, func(b []byte) []byte { b[40] ^= 1; return b }), ErrIntegrity, 0},
		{"SK length past end", mutate(auth, func(b []byte) []byte { binary.BigEndian.PutUint16(b[30:], 0xffff); return b }), ErrPayloadLength, NotifyInvalidSyntax},
		{"SK not last", cleartext(PayloadSK, append(payload(PayloadNone, false, make([]byte, 20)), payload(PayloadNone, false, nil)...)), ErrInvalidSyntax, NotifyInvalidSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cipher SKCipher = c
			if tt.name == "SK without cipher" {
				cipher = nil
			}
			m, err := Decode(tt.in, cipher)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want %v", m, err, tt.want)
			}
			n, data, ok := NotifyFor(err)
			if ok != (tt.notify != 0) || n != tt.notify {
				t.Errorf("NotifyFor(%v) = %v, %v; want %v", err, n, ok, tt.notify)
			}
			var crit *CriticalPayloadError
			if errors.As(err, &crit) && (crit.Type != 200 || !bytes.Equal(data, []byte{200})) {
				t.Errorf("critical payload error = %+v, data %x; want type 200", crit, data)
			}
		})
	}
}

func TestUnknownPayloadsSkipped(t *testing.T) {
	nonce := bytes.Repeat([]byte{1}, 16)
	// Unknown type 200 (not critical), then EAP (known to IANA, not decoded here), then a nonce.
	chain := append(payload(PayloadEAP, false, []byte{9, 9}), payload(PayloadNonce, false, []byte{1, 2, 3})...)
	chain = append(chain, payload(PayloadNone, false, nonce)...)
	m, err := Decode(cleartext(PayloadType(200), chain), nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(m.Payloads) != 1 {
		t.Fatalf("got %d payloads, want only the nonce", len(m.Payloads))
	}
	if n, ok := m.Payloads[0].(*Nonce); !ok || !bytes.Equal(n.Data, nonce) {
		t.Errorf("payload = %#v, want the nonce", m.Payloads[0])
	}
	// The critical bit on a known payload is ignored (RFC 7296 2.5).
	if _, err := Decode(cleartext(PayloadNonce, payload(PayloadNone, true, nonce)), nil); err != nil {
		t.Errorf("critical nonce rejected: %v", err)
	}
}

func TestUnknownTransformAttribute(t *testing.T) {
	// One transform: ENCR 12 with key length 128 and an unknown TV attribute 99.
	tr := []byte{0, 0, 0, 16, 1, 0, 0, 12, 0x80, 14, 0, 128, 0x80, 99, 0, 1}
	prop := append([]byte{0, 0, 0, byte(8 + len(tr)), 1, 1, 0, 1}, tr...)
	m, err := Decode(cleartext(PayloadSA, payload(PayloadNone, false, prop)), nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	got := m.Payloads[0].(*SA).Proposals[0].Transforms[0]
	if got.KeyLength != 128 || !got.UnknownAttributes {
		t.Errorf("transform = %+v, want key length 128 and UnknownAttributes", got)
	}
}

func TestSKPaddingChecked(t *testing.T) {
	c := testCipher{key: 0x21, blockSize: 8}
	// Hand-built SK: IV, plaintext "pad length 9" with only 4 plaintext bytes.
	b := appendHeader(nil, &Header{InitiatorSPI: 1, ResponderSPI: 2, Exchange: ExchangeInformational})
	b[16] = byte(PayloadSK)
	sk := len(b)
	b = append(b, 0, 0, 0, 0)
	body := len(b)
	b = append(b, 0, 0, 0, 0)             // IV
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 9) // plaintext ending in pad length 9 > 7
	b = append(b, make([]byte, 8)...)     // ICV
	binary.BigEndian.PutUint16(b[sk+2:], uint16(len(b)-sk))
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	if err := c.Seal(b, body); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b, c); !errors.Is(err, ErrInvalidSyntax) {
		t.Errorf("Decode = %v, want ErrInvalidSyntax for a pad length past the plaintext", err)
	}
}
