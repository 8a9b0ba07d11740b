package suite

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"alixsec.dev/ikesvc/wire"
)

var skSuites = []string{
	"aes128-sha1-modp2048",
	"aes128-sha256-ecp256",
	"aes256-sha384-ecp384",
	"aes256-sha512-x25519",
	"aes128gcm16-prfsha256-ecp256",
	"aes256gcm16-prfsha384-x25519",
	"chacha20poly1305-prfsha256-x25519",
}

// pairFor derives keys for suite s and returns the initiator's and the
// responder's cipher pairs.
func pairFor(t testing.TB, s Suite) (iOut, iIn, rOut, rIn wire.SKCipher) {
	t.Helper()
	k, err := DeriveIKEKeys(s, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32), 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	iOut, iIn, err = k.Ciphers(s, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rOut, rIn, err = k.Ciphers(s, false, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func authRequest() *wire.Message {
	return &wire.Message{
		Header:    wire.Header{InitiatorSPI: 10, ResponderSPI: 20, Exchange: wire.ExchangeIKEAuth, Flags: wire.FlagInitiator, MessageID: 1},
		Encrypted: true,
		Protected: []wire.Payload{
			&wire.ID{Type: wire.IDFQDN, Data: []byte("alix1.example")},
			&wire.Auth{Method: wire.AuthSharedKeyMIC, Data: bytes.Repeat([]byte{7}, 32)},
			&wire.SA{Proposals: WireProposals(DefaultESPProposals(), []byte{1, 2, 3, 4})},
			&wire.TrafficSelectors{Selectors: []wire.TrafficSelector{{StartAddr: netip.MustParseAddr("10.0.0.1"), EndAddr: netip.MustParseAddr("10.0.0.1"), EndPort: 65535}}},
			&wire.TrafficSelectors{Responder: true, Selectors: []wire.TrafficSelector{{StartAddr: netip.MustParseAddr("10.0.0.2"), EndAddr: netip.MustParseAddr("10.0.0.2"), EndPort: 65535}}},
		},
	}
}

func TestSKRoundTripPerSuite(t *testing.T) {
	for _, name := range skSuites {
		t.Run(name, func(t *testing.T) {
			s := mustSuite(t, wire.ProtocolIKE, name)
			iOut, iIn, rOut, rIn := pairFor(t, s)
			req := authRequest()
			b, err := req.Encode(iOut)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := wire.Decode(bytes.Clone(b), rIn)
			if err != nil {
				t.Fatalf("responder Decode: %v", err)
			}
			if !reflect.DeepEqual(got.Protected, req.Protected) {
				t.Error("protected payloads changed in transit")
			}
			// The initiator cannot open its own direction with its inbound keys.
			if _, err := wire.Decode(bytes.Clone(b), iIn); !errors.Is(err, wire.ErrIntegrity) {
				t.Errorf("opened with the wrong direction's keys: %v", err)
			}
			// Tampering anywhere, header included, is caught.
			for _, i := range []int{3, 18, 24, 30, len(b) / 2, len(b) - 1} {
				bad := bytes.Clone(b)
				bad[i] ^= 0x01
				if _, err := wire.Decode(bad, rIn); err == nil {
					t.Errorf("flip at byte %d went unnoticed", i)
				}
			}
			// And the other direction.
			resp := &wire.Message{Header: req.Header, Encrypted: true, Protected: []wire.Payload{&wire.Notify{Type: wire.NotifyAuthenticationFailed}}}
			resp.Flags = wire.FlagResponse
			rb, err := resp.Encode(rOut)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wire.Decode(rb, iIn); err != nil {
				t.Errorf("initiator Decode of response: %v", err)
			}
			// Fragments (RFC 7383) work with the real ciphers too.
			frags, err := wire.EncodeFragments(req, iOut, 200)
			if err != nil {
				t.Fatal(err)
			}
			var r wire.Reassembler
			var whole *wire.Message
			for _, f := range frags {
				m, err := wire.Decode(f, rIn)
				if err != nil {
					t.Fatalf("Decode fragment: %v", err)
				}
				if whole, err = r.Add(m); err != nil {
					t.Fatal(err)
				}
			}
			if whole == nil || !reflect.DeepEqual(whole.Protected, req.Protected) {
				t.Errorf("%d fragments did not reassemble to the request", len(frags))
			}
		})
	}
}

func TestAEADIVsUnique(t *testing.T) {
	s := mustSuite(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-ecp256")
	out, _, _, _ := pairFor(t, s)
	seen := map[string]bool{}
	for range 100 {
		b, err := (&wire.Message{Encrypted: true}).Encode(out)
		if err != nil {
			t.Fatal(err)
		}
		iv := string(b[wire.HeaderLen+4 : wire.HeaderLen+12])
		if seen[iv] {
			t.Fatal("IV repeated under one key")
		}
		seen[iv] = true
	}
}

func TestNewSKCipherRejects(t *testing.T) {
	cbc := Suite{Encr: Encr{EncrAESCBC, 128}, Integ: IntegHMACSHA2_256128}
	tests := []struct {
		name  string
		s     Suite
		ek    []byte
		ik    []byte
		noRNG bool
	}{
		{"short AES key", cbc, make([]byte, 15), make([]byte, 32), false},
		{"short HMAC key", cbc, make([]byte, 16), make([]byte, 31), false},
		{"CBC without integrity", Suite{Encr: Encr{EncrAESCBC, 128}}, make([]byte, 16), nil, false},
		{"CBC without random source", cbc, make([]byte, 16), make([]byte, 32), true},
		{"GCM key without salt", Suite{Encr: Encr{EncrAESGCM16, 128}}, make([]byte, 16), nil, false},
		{"unknown cipher", Suite{Encr: Encr{EncrID(3), 192}}, make([]byte, 24), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.Reader
			if tt.noRNG {
				rng = nil
			}
			if _, err := NewSKCipher(tt.s, tt.ek, tt.ik, rng); err == nil {
				t.Error("NewSKCipher succeeded")
			}
		})
	}
}

func BenchmarkSK(b *testing.B) {
	msg := authRequest()
	for _, name := range skSuites {
		s := mustSuite(b, wire.ProtocolIKE, name)
		out, _, _, in := pairFor(b, s)
		sealed, err := msg.Encode(out)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("seal/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(sealed)))
			buf := make([]byte, 0, 2048)
			for b.Loop() {
				if _, err := msg.AppendEncode(buf[:0], out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("open/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(sealed)))
			buf := make([]byte, len(sealed))
			for b.Loop() {
				// Open a fresh copy each time: Decode decrypts in place.
				copy(buf, sealed)
				if _, err := wire.Decode(buf, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
