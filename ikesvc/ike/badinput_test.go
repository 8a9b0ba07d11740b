package ike

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// TestBadInput feeds mangled copies of a real handshake's datagrams to an
// established pair: nothing may panic, and the SAs must stay as they were.
func TestBadInput(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	sent := append([]datagram(nil), p.net.sent...)
	mangle := []struct {
		name string
		f    func([]byte) []byte
	}{
		{"replay", func(b []byte) []byte { return b }},
		{"truncated header", func(b []byte) []byte { return b[:20] }},
		{"truncated body", func(b []byte) []byte { return b[:len(b)-7] }},
		{"oversized length", func(b []byte) []byte { binary.BigEndian.PutUint32(b[24:], 1<<20); return b }},
		{"trailing data", func(b []byte) []byte { return append(b, 1, 2, 3) }},
		{"wrong responder SPI", func(b []byte) []byte { b[8] ^= 0xff; return b }},
		{"wrong initiator SPI", func(b []byte) []byte { b[0] ^= 0xff; return b }},
		{"flipped ICV", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"future message ID", func(b []byte) []byte { binary.BigEndian.PutUint32(b[20:], 7); return b }},
		{"version 3", func(b []byte) []byte { b[17] = 0x30; return b }},
		{"unknown critical payload", func(b []byte) []byte {
			if b[16] == byte(wire.PayloadSA) { // cleartext IKE_SA_INIT: make the first payload unknown and critical
				b[16], b[29] = 200, 0x80
			}
			return b
		}},
	}
	for _, m := range mangle {
		t.Run(m.name, func(t *testing.T) {
			for _, d := range sent {
				e := p.net.engines[d.to.Addr()]
				e.HandlePacket(m.f(append([]byte(nil), d.data...)), d.from, d.to)
			}
			p.net.run(t)
			// Mangled IKE_SA_INITs may open half-open SAs; they must expire.
			p.clock.Advance(HalfOpenTimeout)
			p.net.run(t)
			p.checkUp(t, kernel.ModeTransport)
		})
	}
	t.Run("random garbage", func(t *testing.T) {
		for i := 0; i < 200; i++ {
			b := make([]byte, i)
			for j := range b {
				b[j] = byte(i*31 + j*7)
			}
			p.b.engine.HandlePacket(b, sent[0].from, sent[0].to)
		}
		p.net.run(t)
		p.clock.Advance(HalfOpenTimeout)
		p.net.run(t)
		p.checkUp(t, kernel.ModeTransport)
	})
}

// TestHalfOpenExpires: an IKE_SA_INIT without IKE_AUTH must not linger.
func TestHalfOpenExpires(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.net.drop = func(d datagram) bool {
		h, _ := wire.ParseHeader(d.data)
		return h.Exchange == wire.ExchangeIKEAuth
	}
	p.start(t)
	if st := p.b.engine.Status(context.Background()); len(st) != 1 || st[0].State != StateInitReplied.String() {
		t.Fatalf("b: %+v, want one half-open SA", st)
	}
	p.clock.Advance(HalfOpenTimeout)
	p.net.run(t)
	if st := p.b.engine.Status(context.Background()); len(st) != 0 {
		t.Fatalf("b keeps %+v after %v", st, HalfOpenTimeout)
	}
}

// FuzzHandlePacket: arbitrary datagrams to both ends of an established
// pair never panic; the seeds are the handshake's own datagrams.
func FuzzHandlePacket(f *testing.F) {
	p := newPair(f, pairOpts{mode: kernel.ModeTransport})
	p.start(f)
	f.Add([]byte{}, false)
	f.Add(make([]byte, 28), true)
	for _, d := range p.net.sent {
		f.Add(d.data, d.to.Addr() == p.b.addr)
	}
	for _, ep := range []*endpoint{p.a, p.b} {
		ep.log.mu.Lock()
		ep.log.quiet = true
		ep.log.mu.Unlock()
	}
	f.Fuzz(func(t *testing.T, b []byte, toB bool) {
		from, to := p.a, p.b
		if !toB {
			from, to = p.b, p.a
		}
		to.engine.HandlePacket(b, netip.AddrPortFrom(from.addr, 500), netip.AddrPortFrom(to.addr, 500))
		p.net.mu.Lock()
		p.net.queue = nil
		p.net.mu.Unlock()
	})
}
