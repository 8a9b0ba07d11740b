package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// sampleMessages covers every payload type in the shapes the exchanges use.
func sampleMessages() map[string]*Message {
	natHash := NATDetectionHash(0x1122334455667788, 0, netip.MustParseAddrPort("192.0.2.1:500"))
	return map[string]*Message{
		"IKE_SA_INIT request": {
			Header: Header{InitiatorSPI: 0x1122334455667788, Exchange: ExchangeIKESAInit, Flags: FlagInitiator},
			Payloads: []Payload{
				&SA{Proposals: []Proposal{
					{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
						{Type: TransformENCR, ID: 20, KeyLength: 128},
						{Type: TransformENCR, ID: 20, KeyLength: 256},
						{Type: TransformPRF, ID: 5},
						{Type: TransformDH, ID: 19},
						{Type: TransformDH, ID: 31},
					}},
					{Number: 2, Protocol: ProtocolIKE, Transforms: []Transform{
						{Type: TransformENCR, ID: 12, KeyLength: 128},
						{Type: TransformPRF, ID: 5},
						{Type: TransformINTEG, ID: 12},
						{Type: TransformDH, ID: 14},
					}},
				}},
				&KE{Group: 19, Data: repeat(0xab, 64)},
				&Nonce{Data: repeat(0xcd, 32)},
				&Notify{Type: NotifyNATDetectionSourceIP, Data: natHash[:]},
				&Notify{Type: NotifyNATDetectionDestinationIP, Data: natHash[:]},
				&Notify{Type: NotifyIKEv2FragmentationSupported},
				&Notify{Type: NotifySignatureHashAlgorithms, Data: AppendHashAlgorithms(nil, HashSHA256, HashSHA384, HashSHA512)},
				&VendorID{Data: []byte("alixsec")},
			},
		},
		"IKE_SA_INIT cookie response": {
			Header:   Header{InitiatorSPI: 1, Exchange: ExchangeIKESAInit, Flags: FlagResponse},
			Payloads: []Payload{&Notify{Type: NotifyCookie, Data: repeat(7, 20)}},
		},
		"IKE_SA_INIT response with CERTREQ": {
			Header: Header{InitiatorSPI: 1, ResponderSPI: 2, Exchange: ExchangeIKESAInit, Flags: FlagResponse},
			Payloads: []Payload{
				&SA{Proposals: []Proposal{{Number: 2, Protocol: ProtocolIKE, Transforms: []Transform{
					{Type: TransformENCR, ID: 12, KeyLength: 256}, {Type: TransformPRF, ID: 7},
					{Type: TransformINTEG, ID: 14}, {Type: TransformDH, ID: 16},
				}}}},
				&KE{Group: 16, Data: repeat(1, 512)},
				&Nonce{Data: repeat(2, 16)},
				NewCertRequest(CAHash([]byte("spki one")), CAHash([]byte("spki two"))),
			},
		},
		"IKE_AUTH request": {
			Header:    Header{InitiatorSPI: 1, ResponderSPI: 2, Exchange: ExchangeIKEAuth, Flags: FlagInitiator, MessageID: 1},
			Encrypted: true,
			Protected: []Payload{
				&ID{Type: IDDERASN1DN, Data: []byte{0x30, 0x03, 0x31, 0x01, 0x00}},
				&Cert{Encoding: CertX509Signature, Data: repeat(0x30, 300)},
				&Cert{Encoding: CertX509Signature, Data: repeat(0x31, 200)},
				NewCertRequest(CAHash([]byte("ca"))),
				&ID{Responder: true, Type: IDFQDN, Data: []byte("peer.example")},
				&Auth{Method: AuthDigitalSignature, Data: mustSigAuth([]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, repeat(9, 72))},
				&Notify{Type: NotifyInitialContact},
				&Config{Type: CPRequest, Attributes: []ConfigAttribute{{Type: 1}, {Type: 3, Value: []byte{10, 0, 0, 1}}}},
				&Notify{Type: NotifyUseTransportMode},
				&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolESP, SPI: []byte{0xc0, 0, 0, 1}, Transforms: []Transform{
					{Type: TransformENCR, ID: 12, KeyLength: 128}, {Type: TransformINTEG, ID: 12},
					{Type: TransformESN, ID: 0}, {Type: TransformESN, ID: 1},
				}}}},
				&TrafficSelectors{Selectors: []TrafficSelector{
					{StartAddr: netip.MustParseAddr("10.0.0.1"), EndAddr: netip.MustParseAddr("10.0.0.1"), EndPort: 65535},
					{IPProtocol: 17, StartPort: 500, EndPort: 500, StartAddr: netip.MustParseAddr("2001:db8::1"), EndAddr: netip.MustParseAddr("2001:db8::ffff")},
				}},
				&TrafficSelectors{Responder: true, Selectors: []TrafficSelector{
					{StartAddr: netip.MustParseAddr("0.0.0.0"), EndAddr: netip.MustParseAddr("255.255.255.255"), EndPort: 65535},
				}},
			},
		},
		"IKE_AUTH request with ID types": {
			Header:    Header{InitiatorSPI: 3, ResponderSPI: 4, Exchange: ExchangeIKEAuth, Flags: FlagInitiator, MessageID: 1},
			Encrypted: true,
			Protected: []Payload{
				&ID{Type: IDIPv4, Data: []byte{192, 0, 2, 1}},
				&ID{Responder: true, Type: IDIPv6, Data: repeat(0x20, 16)},
				&ID{Type: IDRFC822, Data: []byte("a@b.example")},
				&ID{Type: IDKeyID, Data: []byte{1, 2, 3}},
				&Auth{Method: AuthRSASignature, Data: repeat(5, 256)},
				&Auth{Method: AuthSharedKeyMIC, Data: repeat(6, 32)},
			},
		},
		"IKE_AUTH failure response": {
			Header:    Header{InitiatorSPI: 1, ResponderSPI: 2, Exchange: ExchangeIKEAuth, Flags: FlagResponse, MessageID: 1},
			Encrypted: true,
			Protected: []Payload{&Notify{Type: NotifyAuthenticationFailed}},
		},
		"CREATE_CHILD_SA rekey": {
			Header:    Header{InitiatorSPI: 1, ResponderSPI: 2, Exchange: ExchangeCreateChildSA, MessageID: 7},
			Encrypted: true,
			Protected: []Payload{
				&Notify{Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Type: NotifyRekeySA},
				&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolESP, SPI: []byte{5, 6, 7, 8}, Transforms: []Transform{
					{Type: TransformENCR, ID: 28}, {Type: TransformDH, ID: 31}, {Type: TransformESN, ID: 0},
				}}}},
				&Nonce{Data: repeat(3, 32)},
				&KE{Group: 31, Data: repeat(4, 32)},
				&TrafficSelectors{Selectors: []TrafficSelector{{StartAddr: netip.MustParseAddr("10.0.0.1"), EndAddr: netip.MustParseAddr("10.0.0.2"), EndPort: 65535}}},
				&TrafficSelectors{Responder: true, Selectors: []TrafficSelector{{StartAddr: netip.MustParseAddr("10.0.1.0"), EndAddr: netip.MustParseAddr("10.0.1.255"), EndPort: 65535}}},
			},
		},
		"INFORMATIONAL delete": {
			Header:    Header{InitiatorSPI: 1, ResponderSPI: 2, Exchange: ExchangeInformational, MessageID: 9},
			Encrypted: true,
			Protected: []Payload{
				&Delete{Protocol: ProtocolESP, SPIs: []uint32{0xc0000001, 0xc0000002}},
				&Delete{Protocol: ProtocolIKE},
			},
		},
		"INFORMATIONAL empty (liveness)": {
			Header:    Header{InitiatorSPI: 1, ResponderSPI: 2, Exchange: ExchangeInformational, Flags: FlagResponse, MessageID: 10},
			Encrypted: true,
		},
	}
}

func mustSigAuth(alg, sig []byte) []byte {
	b, err := AppendSignatureAuth(nil, alg, sig)
	if err != nil {
		panic(err)
	}
	return b
}

// normalize clears what Encode computes so a decoded message compares equal
// to the one it was built from.
func normalize(m *Message) {
	m.NextPayload, m.Length = 0, 0
	m.MajorVersion, m.MinorVersion = 0, 0
	if len(m.Protected) == 0 {
		m.Protected = nil
	}
	if len(m.Payloads) == 0 {
		m.Payloads = nil
	}
}

func TestRoundTrip(t *testing.T) {
	for name, want := range sampleMessages() {
		for _, bs := range []int{1, 8, 16} {
			c := testCipher{key: 0x5a, blockSize: bs}
			t.Run(name+"/block"+itoaTest(bs), func(t *testing.T) {
				b, err := want.Encode(c)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				h, err := ParseHeader(b)
				if err != nil || int(h.Length) != len(b) || h.MajorVersion != 2 {
					t.Fatalf("ParseHeader = %+v, %v; want length %d version 2", h, err, len(b))
				}
				got, err := Decode(bytes.Clone(b), c)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				normalize(got)
				w := *want
				normalize(&w)
				if !reflect.DeepEqual(got, &w) {
					t.Errorf("round trip mismatch:\n got %s\nwant %s", dump(got), dump(&w))
				}
				// Encoding is deterministic with this cipher: re-encoding gives the same bytes.
				again, err := got.Encode(c)
				if err != nil || !bytes.Equal(again, b) {
					t.Errorf("re-encode differs (err %v)", err)
				}
			})
		}
	}
}

func itoaTest(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		m    *Message
	}{
		{"SA without proposals", &Message{Payloads: []Payload{&SA{}}}},
		{"TS without selectors", &Message{Payloads: []Payload{&TrafficSelectors{}}}},
		{"TS mixed families", &Message{Payloads: []Payload{&TrafficSelectors{Selectors: []TrafficSelector{{StartAddr: netip.MustParseAddr("10.0.0.1"), EndAddr: netip.MustParseAddr("::1")}}}}}},
		{"IKE delete with SPIs", &Message{Payloads: []Payload{&Delete{Protocol: ProtocolIKE, SPIs: []uint32{1}}}}},
		{"encrypted without cipher", &Message{Encrypted: true}},
		{"protected but not encrypted", &Message{Protected: []Payload{&Nonce{Data: repeat(1, 16)}}}},
		{"payload over 64 KiB", &Message{Payloads: []Payload{&VendorID{Data: make([]byte, 70000)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.m.Encode(nil); err == nil {
				t.Errorf("Encode succeeded with %d bytes, want an error", len(b))
			}
		})
	}
}

func TestFindHelpers(t *testing.T) {
	m := sampleMessages()["IKE_AUTH request"]
	if id, ok := m.Find(PayloadIDr).(*ID); !ok || string(id.Data) != "peer.example" {
		t.Errorf("Find(IDr) = %#v", m.Find(PayloadIDr))
	}
	if m.Find(PayloadKE) != nil {
		t.Error("Find(KE) found a payload that is not there")
	}
	if n := m.FindNotify(NotifyUseTransportMode); n == nil {
		t.Error("FindNotify(USE_TRANSPORT_MODE) = nil")
	}
	if got := len(m.Notifies()); got != 2 {
		t.Errorf("Notifies() returned %d, want 2", got)
	}
	if got := len(m.All()); got != len(m.Protected) {
		t.Errorf("All() returned %d payloads, want %d", got, len(m.Protected))
	}
}

func TestNATDetectionHash(t *testing.T) {
	// Independent computation: SHA-1 over the concatenation, written out by hand.
	a := NATDetectionHash(0x0102030405060708, 0x1112131415161718, netip.MustParseAddrPort("192.0.2.7:4500"))
	b := NATDetectionHash(0x0102030405060708, 0x1112131415161718, netip.MustParseAddrPort("[::ffff:192.0.2.7]:4500"))
	if a != b {
		t.Error("IPv4-mapped IPv6 address hashed differently from the IPv4 address")
	}
	c := NATDetectionHash(0x0102030405060708, 0x1112131415161718, netip.MustParseAddrPort("192.0.2.7:500"))
	if a == c {
		t.Error("port does not change the hash")
	}
	want := sha1Hex("0102030405060708" + "1112131415161718" + "c0000207" + "1194")
	if got := hexOf(a[:]); got != want {
		t.Errorf("NATDetectionHash = %s, want %s", got, want)
	}
}

func TestSignatureAuthAndHashAlgorithms(t *testing.T) {
	alg := []byte{0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}
	data := mustSigAuth(alg, []byte("sig"))
	gotAlg, gotSig, err := ParseSignatureAuth(data)
	if err != nil || !bytes.Equal(gotAlg, alg) || string(gotSig) != "sig" {
		t.Errorf("ParseSignatureAuth = %x, %q, %v", gotAlg, gotSig, err)
	}
	for _, bad := range [][]byte{nil, {0}, {8, 1, 2}} {
		if _, _, err := ParseSignatureAuth(bad); err == nil {
			t.Errorf("ParseSignatureAuth(%x) succeeded", bad)
		}
	}
	algs, err := ParseHashAlgorithms(AppendHashAlgorithms(nil, HashSHA256, HashIdentity))
	if err != nil || !reflect.DeepEqual(algs, []uint16{2, 5}) {
		t.Errorf("hash algorithms = %v, %v", algs, err)
	}
	if _, err := ParseHashAlgorithms([]byte{1}); err == nil {
		t.Error("odd-length hash algorithm list accepted")
	}
	cr := NewCertRequest(CAHash([]byte("a")), CAHash([]byte("b")))
	auths, err := cr.Authorities()
	if err != nil || len(auths) != 2 {
		t.Errorf("Authorities = %d, %v", len(auths), err)
	}
	if _, err := (&CertRequest{Encoding: CertX509Signature, Data: make([]byte, 21)}).Authorities(); err == nil {
		t.Error("21-byte CERTREQ accepted")
	}
}
