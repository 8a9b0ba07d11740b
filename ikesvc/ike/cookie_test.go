package ike

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// TestCookie: a responder under load answers the first IKE_SA_INIT with a
// COOKIE (RFC 7296 2.6); the initiator must repeat the request with the
// cookie as its first payload and then complete.
func TestCookie(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	cookie := []byte("0123456789abcdef")
	var inits []*wire.Message
	p.net.drop = func(d datagram) bool {
		h, err := wire.ParseHeader(d.data)
		if err != nil || h.Exchange != wire.ExchangeIKESAInit || h.IsResponse() {
			return false
		}
		m, err := wire.Decode(append([]byte(nil), d.data...), nil)
		if err != nil {
			t.Fatalf("initiator sent an undecodable IKE_SA_INIT: %v", err)
		}
		inits = append(inits, m)
		if len(inits) > 1 {
			return false
		}
		// Play the busy responder: answer with a COOKIE only.
		resp := &wire.Message{Header: wire.Header{InitiatorSPI: h.InitiatorSPI, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagResponse},
			Payloads: []wire.Payload{&wire.Notify{Type: wire.NotifyCookie, Data: cookie}}}
		b, err := resp.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		p.net.Send(b, d.to, d.from)
		return true
	}
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	if len(inits) != 2 {
		t.Fatalf("%d IKE_SA_INIT requests, want 2", len(inits))
	}
	first, ok := inits[1].Payloads[0].(*wire.Notify)
	if !ok || first.Type != wire.NotifyCookie || string(first.Data) != string(cookie) {
		t.Fatalf("second IKE_SA_INIT starts with %+v, want the COOKIE", inits[1].Payloads[0])
	}
}

// TestKernelExpire: a soft expire rekeys the CHILD_SA, a hard expire
// removes it on our side.
func TestKernelExpire(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	old := p.a.kernelSet(t).SAs[0]
	p.a.engine.HandleKernelEvent(kernel.Event{Kind: kernel.EventSoftExpire, Expire: kernel.Expire{SA: old.ID(), Reqid: old.Reqid}})
	p.net.run(t)
	p.settle(t)
	p.checkUp(t, kernel.ModeTransport)
	for _, sa := range p.a.kernelSet(t).SAs {
		if sa.ID() == old.ID() {
			t.Fatalf("SA %v still installed after the soft expire's rekey", old.ID())
		}
	}
	cur := p.a.kernelSet(t).SAs[0]
	p.a.engine.HandleKernelEvent(kernel.Event{Kind: kernel.EventHardExpire, Expire: kernel.Expire{SA: cur.ID(), Reqid: cur.Reqid}})
	if ks := p.a.kernelSet(t); len(ks.SAs) != 0 {
		t.Fatalf("a keeps %d SAs after a hard expire", len(ks.SAs))
	}
	p.net.run(t)
	for _, ep := range []*endpoint{p.a, p.b} {
		if st := ep.only(t); st.State != "established" || len(st.Children) != 0 {
			t.Fatalf("%s after the hard expire: %+v", ep.name, st)
		}
		if ks := ep.kernelSet(t); len(ks.SAs) != 0 {
			t.Fatalf("%s keeps %d SAs after the hard expire", ep.name, len(ks.SAs))
		}
	}
}

// spoofInit is an IKE_SA_INIT request made by hand, from an address of
// its own (100.64.x.y, no configured peer's: B's respond-only peer takes
// it), so the test controls source, SPI, nonce and cookie.
type spoofInit struct {
	spi  uint64
	ni   []byte
	from netip.AddrPort
}

func newSpoofInit(p *pair, n int) spoofInit {
	return newSpoofInitFrom(spoofAddr(n), n)
}

// spoofAddr is the n-th spoofing source address.
func spoofAddr(n int) netip.Addr { return netip.AddrFrom4([4]byte{100, 64, byte(n >> 8), byte(n)}) }

// newSpoofInitFrom is the n-th spoofed request, from addr.
func newSpoofInitFrom(addr netip.Addr, n int) spoofInit {
	ni := make([]byte, NonceLen)
	binary.BigEndian.PutUint64(ni, uint64(n)+1)
	return spoofInit{spi: 0x5000 + uint64(n), ni: ni, from: netip.AddrPortFrom(addr, uint16(20000+n))}
}

func (s spoofInit) packet(t *testing.T, p *pair, cookie []byte) []byte {
	t.Helper()
	ke, err := suite.NewKeyExchange(suite.DHECP256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var payloads []wire.Payload
	if cookie != nil {
		payloads = append(payloads, &wire.Notify{Type: wire.NotifyCookie, Data: cookie})
	}
	payloads = append(payloads,
		&wire.SA{Proposals: suite.WireProposals(p.pa.IKE, nil)},
		&wire.KE{Group: uint16(suite.DHECP256), Data: ke.PublicKey()},
		&wire.Nonce{Data: s.ni})
	m := &wire.Message{Header: wire.Header{InitiatorSPI: s.spi, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator}, Payloads: payloads}
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendTo hands s to B and returns B's answers to it (decoded).
func (s spoofInit) sendTo(t *testing.T, p *pair, cookie []byte) []*wire.Message {
	t.Helper()
	p.net.mu.Lock()
	before := len(p.net.sent)
	p.net.mu.Unlock()
	p.b.engine.HandlePacket(s.packet(t, p, cookie), s.from, netip.AddrPortFrom(p.b.addr, 500))
	p.net.mu.Lock()
	var out []*wire.Message
	for _, d := range p.net.sent[before:] {
		if d.to != s.from {
			continue
		}
		m, err := wire.Decode(slices.Clone(d.data), nil)
		if err != nil {
			t.Fatalf("undecodable answer to %v: %v", s.from, err)
		}
		out = append(out, m)
	}
	p.net.mu.Unlock()
	p.net.run(t) // A drops the answers: they name SPIs it never used
	return out
}

// cookieOnly returns the cookie of an answer that carries nothing else.
func cookieOnly(ms []*wire.Message) ([]byte, bool) {
	if len(ms) != 1 || len(ms[0].Payloads) != 1 {
		return nil, false
	}
	n, ok := ms[0].Payloads[0].(*wire.Notify)
	if !ok || n.Type != wire.NotifyCookie || ms[0].ResponderSPI != 0 {
		return nil, false
	}
	return n.Data, true
}

// halfOpenOf counts e's half-open responder SAs.
func halfOpenOf(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.halfOpenCount()
}

// fillHalfOpen makes B hold n half-open SAs (answering COOKIEs as a real
// initiator would); next numbers the spoofed initiators.
func fillHalfOpen(t *testing.T, p *pair, n int, next *int) {
	t.Helper()
	for halfOpenOf(p.b.engine) < n {
		s := newSpoofInit(p, *next)
		*next++
		answers := s.sendTo(t, p, nil)
		if c, ok := cookieOnly(answers); ok {
			answers = s.sendTo(t, p, c)
		}
		if len(answers) != 1 || answers[0].Find(wire.PayloadSA) == nil {
			t.Fatalf("filling half-open SAs: answer %+v, want an IKE_SA_INIT response", answers)
		}
	}
}

// configureB gives B its peer A and a respond-only peer that admits
// initiators from any address (road warriors: what a flood can target).
func (p *pair) configureB(t *testing.T) {
	t.Helper()
	any := p.pb
	any.Name, any.Remote = "any", netip.Addr{}
	if _, err := p.b.engine.SetPeers([]PeerConfig{p.pb, any}); err != nil {
		t.Fatal(err)
	}
}

// TestResponderCookie: below the threshold requests proceed (a cookie is
// ignored); at it, a request without a valid cookie gets one COOKIE-only
// answer and leaves no state, while one with the cookie of the current
// or the previous secret proceeds.
func TestResponderCookie(t *testing.T) {
	const threshold = 4
	tests := []struct {
		name    string
		fill    int
		cookie  string // none, valid, forged, other-spi
		advance time.Duration
		// wantCookie: the probe is answered with a COOKIE and no SA.
		wantCookie bool
	}{
		{"below the threshold", threshold - 1, "none", 0, false},
		{"below the threshold a forged cookie is ignored", threshold - 1, "forged", 0, false},
		{"at the threshold without a cookie", threshold, "none", 0, true},
		{"at the threshold with the cookie", threshold, "valid", 0, false},
		{"at the threshold with a forged cookie", threshold, "forged", 0, true},
		{"at the threshold with another SPI's cookie", threshold, "other-spi", 0, true},
		{"cookie from before one rotation", threshold, "valid", CookieSecretLifetime, false},
		{"cookie from before two rotations", threshold, "valid", 2 * CookieSecretLifetime, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) { c.CookieThreshold = threshold }})
			p.configureB(t)
			next := 0
			fillHalfOpen(t, p, tt.fill, &next)
			probe := newSpoofInit(p, 1000)
			var cookie []byte
			switch tt.cookie {
			case "forged":
				cookie = append(binary.BigEndian.AppendUint32(nil, 0), make([]byte, 32)...)
			case "valid", "other-spi":
				c, ok := cookieOnly(probe.sendTo(t, p, nil))
				if !ok {
					t.Fatal("no COOKIE asked at the threshold")
				}
				if len(c) != 36 {
					t.Fatalf("cookie of %d bytes, want VersionID and HMAC-SHA256 (36)", len(c))
				}
				cookie = c
				if tt.cookie == "other-spi" {
					probe.spi++
				}
			}
			if tt.advance > 0 {
				// The half-open SAs expire meanwhile: load B again.
				p.clock.Advance(tt.advance)
				fillHalfOpen(t, p, threshold, &next)
			}
			before := halfOpenOf(p.b.engine)
			answers := probe.sendTo(t, p, cookie)
			after := halfOpenOf(p.b.engine)
			got, isCookie := cookieOnly(answers)
			if isCookie != tt.wantCookie {
				t.Fatalf("answers %+v: COOKIE only %v, want %v", answers, isCookie, tt.wantCookie)
			}
			if tt.wantCookie {
				if after != before {
					t.Fatalf("half-open SAs %d -> %d after a COOKIE answer, want no new state", before, after)
				}
				if bytes.Equal(got, cookie) && tt.cookie != "valid" {
					t.Fatal("the refused cookie was handed back instead of a fresh one")
				}
				return
			}
			if len(answers) != 1 || answers[0].Find(wire.PayloadKE) == nil || after != before+1 {
				t.Fatalf("answers %+v, half-open %d -> %d: want one IKE_SA_INIT response and one new SA", answers, before, after)
			}
		})
	}
}

// TestResponderCookieEndToEnd: our initiator against our responder under
// load answers the COOKIE, and the IKE SA and CHILD_SA come up.
func TestResponderCookieEndToEnd(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) { c.CookieThreshold = 2 }})
	p.configureB(t)
	next := 0
	fillHalfOpen(t, p, 2, &next)
	p.net.mu.Lock()
	before := len(p.net.sent)
	p.net.mu.Unlock()
	p.start(t)
	var fromA []*wire.Message
	for _, d := range p.net.sent[before:] {
		if h, err := wire.ParseHeader(d.data); err == nil && h.Exchange == wire.ExchangeIKESAInit && d.from.Addr() == p.a.addr {
			m, err := wire.Decode(slices.Clone(d.data), nil)
			if err != nil {
				t.Fatal(err)
			}
			fromA = append(fromA, m)
		}
	}
	if len(fromA) != 2 || fromA[0].FindNotify(wire.NotifyCookie) != nil || fromA[1].FindNotify(wire.NotifyCookie) == nil {
		t.Fatalf("A sent %d IKE_SA_INIT requests, want 2: without, then with the COOKIE", len(fromA))
	}
	if n := p.b.log.count("without a valid COOKIE"); n != 1 {
		t.Errorf("B logged the load %d times, want once", n)
	}
	// The spoofed half-open SAs expire; what is left is the real pair.
	p.advance(t, HalfOpenTimeout+time.Second)
	p.checkUp(t, kernel.ModeTransport)
}

// TestHalfOpenLimit: at the hard cap new requests get no answer at all
// and no state, and the drops are logged once per LoadLogInterval.
func TestHalfOpenLimit(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) {
		c.CookieThreshold = 2
		c.HalfOpenLimit = 3
	}})
	p.configureB(t)
	next := 0
	for round := 1; round <= 2; round++ {
		fillHalfOpen(t, p, 3, &next)
		for i := 0; i < 10; i++ {
			s := newSpoofInit(p, next)
			next++
			if answers := s.sendTo(t, p, nil); len(answers) != 0 {
				t.Fatalf("round %d: a request at the cap was answered: %+v", round, answers)
			}
		}
		if n := halfOpenOf(p.b.engine); n != 3 {
			t.Fatalf("round %d: %d half-open SAs, want the cap of 3", round, n)
		}
		if n := p.b.log.count("the limit: dropping"); n != round {
			t.Fatalf("round %d: the drops were logged %d times, want %d", round, n, round)
		}
		p.clock.Advance(LoadLogInterval)
	}
}

// TestLoadDefaults: zero config fields take the defaults, negative ones
// turn the protection off.
func TestLoadDefaults(t *testing.T) {
	tests := []struct {
		name                   string
		threshold, limit       int
		keepalive              time.Duration
		wantThreshold, wantCap int
		wantKeepalive          time.Duration
	}{
		{"zero", 0, 0, 0, DefaultCookieThreshold, HalfOpenLimitFactor * DefaultCookieThreshold, DefaultKeepaliveInterval},
		{"threshold set", 5, 0, time.Minute, 5, HalfOpenLimitFactor * 5, time.Minute},
		{"cookies off", -1, 0, -1, -1, HalfOpenLimitFactor * DefaultCookieThreshold, -1},
		{"cap off", 0, -1, 0, DefaultCookieThreshold, -1, DefaultKeepaliveInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTransport, bConfig: func(c *Config) {
				c.CookieThreshold, c.HalfOpenLimit, c.KeepaliveInterval = tt.threshold, tt.limit, tt.keepalive
			}})
			c := p.b.engine.cfg
			if c.CookieThreshold != tt.wantThreshold || c.HalfOpenLimit != tt.wantCap || c.KeepaliveInterval != tt.wantKeepalive {
				t.Fatalf("threshold %d, cap %d, keepalive %v; want %d, %d, %v", c.CookieThreshold, c.HalfOpenLimit, c.KeepaliveInterval, tt.wantThreshold, tt.wantCap, tt.wantKeepalive)
			}
		})
	}
}
