package ike

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// sealRaw builds an encrypted message of header h whose SK payload holds
// inner verbatim (first: the type of its first payload), sealed with c:
// it passes the integrity check whatever inner is.
func sealRaw(t *testing.T, c wire.SKCipher, h wire.Header, first wire.PayloadType, inner []byte) []byte {
	t.Helper()
	b, err := (&wire.Message{Header: h}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	b[16] = byte(wire.PayloadSK)
	sk := len(b)
	b = append(b, byte(first), 0, 0, 0)
	b = append(b, make([]byte, c.IVLen())...)
	b = append(b, inner...)
	bs := max(c.BlockSize(), 1)
	pad := (bs - (len(inner)+1)%bs) % bs
	b = append(b, make([]byte, pad)...)
	b = append(b, byte(pad))
	b = append(b, make([]byte, c.ICVLen())...)
	binary.BigEndian.PutUint16(b[sk+2:], uint16(len(b)-sk))
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	if err := c.Seal(b, sk+wire.GenericHeaderLen); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMalformedProtectedIKEAuth: an IKE_AUTH request whose ICV verifies
// but whose payloads are malformed is answered with INVALID_SYNTAX and
// the half-open SA is deleted at once (RFC 7296 2.21.2); one whose ICV
// fails gets no answer and changes nothing.
func TestMalformedProtectedIKEAuth(t *testing.T) {
	tests := []struct {
		name       string
		mangle     func([]byte) []byte
		wantAnswer bool
	}{
		{"malformed payloads behind a good ICV", func(b []byte) []byte { return b }, true},
		{"bad ICV", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTransport})
			var auth *datagram
			p.net.drop = func(d datagram) bool {
				h, err := wire.ParseHeader(d.data)
				if err == nil && h.Exchange == wire.ExchangeIKEAuth && !h.IsResponse() && auth == nil {
					auth = &d
					return true
				}
				return false
			}
			p.start(t)
			if auth == nil {
				t.Fatal("A sent no IKE_AUTH request")
			}
			h, err := wire.ParseHeader(auth.data)
			if err != nil {
				t.Fatal(err)
			}
			p.a.engine.mu.Lock()
			var out, in wire.SKCipher
			for _, sa := range p.a.engine.sas {
				out, in = sa.out, sa.in
			}
			p.a.engine.mu.Unlock()
			// An IDi payload whose length field says 2: shorter than its header.
			forged := tt.mangle(sealRaw(t, out, h, wire.PayloadIDi, []byte{0, 0, 0, 2}))
			p.net.mu.Lock()
			before := len(p.net.sent)
			p.net.mu.Unlock()
			p.b.engine.HandlePacket(forged, auth.from, auth.to)
			p.net.mu.Lock()
			var answers []datagram
			for _, d := range p.net.sent[before:] {
				if d.from.Addr() == p.b.addr {
					answers = append(answers, d)
				}
			}
			p.net.mu.Unlock()
			halfOpen := len(p.b.engine.Status(context.Background()))
			if !tt.wantAnswer {
				if len(answers) != 0 || halfOpen != 1 {
					t.Fatalf("B sent %d answers and keeps %d SAs, want none and its half-open SA", len(answers), halfOpen)
				}
				return
			}
			if len(answers) != 1 {
				t.Fatalf("B sent %d answers, want one", len(answers))
			}
			m, err := wire.Decode(bytes.Clone(answers[0].data), in)
			if err != nil {
				t.Fatalf("B's answer does not decode with the SA's keys: %v", err)
			}
			n, _ := m.Find(wire.PayloadNotify).(*wire.Notify)
			if !m.IsResponse() || m.Exchange != wire.ExchangeIKEAuth || m.MessageID != h.MessageID || n == nil || n.Type != wire.NotifyInvalidSyntax {
				t.Fatalf("B answered %v response=%v ID %d with %+v, want an IKE_AUTH response %d with INVALID_SYNTAX", m.Exchange, m.IsResponse(), m.MessageID, m.Protected, h.MessageID)
			}
			if halfOpen != 0 {
				t.Fatalf("B keeps %d SAs after INVALID_SYNTAX, want the half-open one deleted", halfOpen)
			}
			p.net.run(t)
			if n := p.a.log.count("INVALID_SYNTAX"); n != 1 {
				t.Errorf("A logged INVALID_SYNTAX %d times, want once (its IKE_AUTH failed)", n)
			}
		})
	}
}

// TestMalformedLogRateLimit: thousands of bad IKE_SA_INIT requests of three
// kinds give one log line per kind, and a minute later one per kind
// with the count of what was dropped in between.
func TestMalformedLogRateLimit(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	if _, err := p.b.engine.SetPeers([]PeerConfig{p.pb}); err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(p.b.addr, 500)
	kinds := []struct {
		reason string
		send   func(i int)
	}{
		{"bad payload length", func(i int) {
			b := newSpoofInitFrom(p.a.addr, i).packet(t, p, nil)
			binary.BigEndian.PutUint16(b[wire.HeaderLen+2:], 3)
			p.b.engine.HandlePacket(b, netip.AddrPortFrom(p.a.addr, uint16(1000+i)), to)
		}},
		{"Nonce missing", func(i int) {
			s := newSpoofInitFrom(p.a.addr, i)
			ke, err := suite.NewKeyExchange(suite.DHECP256, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := &wire.Message{Header: wire.Header{InitiatorSPI: s.spi, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator},
				Payloads: []wire.Payload{&wire.SA{Proposals: suite.WireProposals(p.pa.IKE, nil)}, &wire.KE{Group: uint16(suite.DHECP256), Data: ke.PublicKey()}}}
			b, err := m.Encode(nil)
			if err != nil {
				t.Fatal(err)
			}
			p.b.engine.HandlePacket(b, netip.AddrPortFrom(p.a.addr, uint16(1000+i)), to)
		}},
		{"no peer is configured", func(i int) {
			s := newSpoofInit(p, i)
			p.b.engine.HandlePacket(s.packet(t, p, nil), s.from, to)
		}},
	}
	const per = 700
	lines := func() int {
		// Any line about these requests, in today's words or older ones.
		return p.b.log.countLines(func(l string) bool { return strings.Contains(l, "IKE_SA_INIT") && !strings.Contains(l, "IKE SA ") })
	}
	for round := 1; round <= 2; round++ {
		for i := 0; i < per; i++ {
			for _, k := range kinds {
				k.send(i)
			}
		}
		p.net.mu.Lock()
		p.net.queue = nil // B's INVALID_SYNTAX answers: not the point here
		p.net.mu.Unlock()
		if n := lines(); n != round*len(kinds) {
			t.Fatalf("round %d: %d log lines for %d bad requests, want %d (one per reason and minute)", round, n, round*per*len(kinds), round*len(kinds))
		}
		for _, k := range kinds {
			want := "(1 like it since the last report)"
			if round == 2 {
				// Everything since the first report, the report's own included.
				want = fmt.Sprintf("(%d like it since the last report)", per)
			}
			if n := p.b.log.count(k.reason); n != round || p.b.log.count(want) < 1 {
				t.Errorf("round %d: %q reported %d times, want %d, and a report with %q", round, k.reason, n, round, want)
			}
		}
		p.clock.Advance(LoadLogInterval + time.Second)
	}
}
