package ike

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// pair is an initiator A (start action start) and a responder B.
type pair struct {
	net    *testNet
	clock  *fakeClock
	a, b   *endpoint
	pa, pb PeerConfig
}

type pairOpts struct {
	kind           string // "ecdsa" or "rsa"
	v6             bool
	mode           kernel.Mode
	aIKE, bIKE     string
	aESP, bESP     string
	revokeA        bool // B's CRL lists A's certificate
	revokeB        bool // A's CRL lists B's certificate
	foreignA       bool // A's certificate comes from a CA B does not know
	rekey          time.Duration
	tunnelNetworks bool
	aConfig        func(*Config) // changes A's engine config
	bConfig        func(*Config) // changes B's engine config
}

func newPair(t testing.TB, o pairOpts) *pair {
	t.Helper()
	if o.kind == "" {
		o.kind = "ecdsa"
	}
	for _, s := range []*string{&o.aIKE, &o.bIKE} {
		if *s == "" {
			*s = "aes128gcm16-prfsha256-ecp256"
		}
	}
	for _, s := range []*string{&o.aESP, &o.bESP} {
		if *s == "" {
			*s = "aes128-sha256"
		}
	}
	p := &pair{net: newTestNet(), clock: newFakeClock()}
	addrA, addrB := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if o.v6 {
		addrA, addrB = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	}
	ca := newTestPKI(t, "Example", o.kind)
	certA, keyA := ca.issue(t, "a.example.net", o.kind, addrA)
	interA := ca.inter
	if o.foreignA {
		other := newTestPKI(t, "Other", o.kind)
		certA, keyA = other.issue(t, "a.example.net", o.kind, addrA)
		interA = other.inter
	}
	if o.revokeA {
		ca.revoke(certA)
	}
	certB, keyB := ca.issue(t, "b.example.net", o.kind, addrB)
	trustB := ca.trust(t)
	if o.revokeB {
		ca.revoke(certB)
	}
	configure := func(f func(*Config)) []func(*Config) {
		if f == nil {
			return nil
		}
		return []func(*Config){f}
	}
	p.a = newEndpointWith(t, p.net, p.clock, "a", addrA, certA, keyA, interA, ca.trust(t), configure(o.aConfig)...)
	p.b = newEndpointWith(t, p.net, p.clock, "b", addrB, certB, keyB, ca.inter, trustB, configure(o.bConfig)...)
	p.pa = PeerConfig{Name: "b", Remote: addrB, RemoteID: matcher(t, "C=JP, O=Example, CN=*"), Mode: o.mode,
		IKE: mustProposals(t, wire.ProtocolIKE, o.aIKE), ESP: mustProposals(t, wire.ProtocolESP, o.aESP),
		RekeyTime: o.rekey, StartAction: StartStart}
	p.pb = PeerConfig{Name: "a", Remote: addrA, RemoteID: matcher(t, "C=JP, O=Example, CN=*"), Mode: o.mode,
		IKE: mustProposals(t, wire.ProtocolIKE, o.bIKE), ESP: mustProposals(t, wire.ProtocolESP, o.bESP),
		RekeyTime: o.rekey, StartAction: StartNone}
	if o.tunnelNetworks {
		p.pa.LocalTS, p.pa.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}
		// B allows more than A asks for: the result is narrowed to A's.
		p.pb.LocalTS, p.pb.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/15")}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}
	return p
}

// advance moves the clock in small steps, delivering datagrams after each,
// the way a real network answers between timer ticks.
func (p *pair) advance(t testing.TB, d time.Duration) {
	t.Helper()
	const step = 100 * time.Millisecond
	for ; d > 0; d -= step {
		p.clock.Advance(min(step, d))
		p.net.run(t)
	}
}

// settle lets the inbound SAs of replaced CHILD_SAs run out their grace.
func (p *pair) settle(t testing.TB) {
	t.Helper()
	p.advance(t, RekeyedInboundGrace)
}

// start configures both and runs the handshake to completion.
func (p *pair) start(t testing.TB) {
	t.Helper()
	if _, err := p.b.engine.SetPeers([]PeerConfig{p.pb}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.a.engine.SetPeers([]PeerConfig{p.pa}); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
}

// checkUp asserts one established IKE SA with one CHILD_SA on each side,
// with matching SPIs, and the kernel SAs and policies installed.
func (p *pair) checkUp(t testing.TB, mode kernel.Mode) {
	t.Helper()
	sa, sb := p.a.only(t), p.b.only(t)
	if sa.State != "established" || sb.State != "established" {
		t.Fatalf("states %q / %q, want established", sa.State, sb.State)
	}
	if sa.SPIi != sb.SPIi || sa.SPIr != sb.SPIr {
		t.Fatalf("IKE SPIs differ: %s/%s vs %s/%s", sa.SPIi, sa.SPIr, sb.SPIi, sb.SPIr)
	}
	if len(sa.Children) != 1 || len(sb.Children) != 1 {
		t.Fatalf("CHILD_SAs: %d / %d, want 1 each", len(sa.Children), len(sb.Children))
	}
	ca, cb := sa.Children[0], sb.Children[0]
	if ca.InSPI != cb.OutSPI || ca.OutSPI != cb.InSPI {
		t.Fatalf("CHILD SPIs do not match: a in %s out %s, b in %s out %s", ca.InSPI, ca.OutSPI, cb.InSPI, cb.OutSPI)
	}
	if ca.Mode != mode.String() || cb.Mode != mode.String() {
		t.Fatalf("modes %s / %s, want %v", ca.Mode, cb.Mode, mode)
	}
	policies := 2
	if mode == kernel.ModeTunnel {
		policies = 3
	}
	for _, ep := range []*endpoint{p.a, p.b} {
		ks := ep.kernelSet(t)
		if len(ks.SAs) != 2 || len(ks.Policies) != policies {
			t.Fatalf("%s kernel: %d SAs, %d policies; want 2, %d: %+v", ep.name, len(ks.SAs), len(ks.Policies), policies, ks)
		}
	}
	// The keys must pair up: A's outbound SA equals B's inbound one.
	ka, kb := p.a.kernelSet(t), p.b.kernelSet(t)
	for _, x := range ka.SAs {
		found := false
		for _, y := range kb.SAs {
			if x.ID() == y.ID() {
				found = true
				if string(x.EncryptionKey) != string(y.EncryptionKey) || string(x.IntegrityKey) != string(y.IntegrityKey) || x.Src != y.Src || x.Dst != y.Dst {
					t.Fatalf("SA %08x differs between a and b", x.SPI)
				}
			}
		}
		if !found {
			t.Fatalf("a's SA %08x has no counterpart on b", x.SPI)
		}
	}
}

func (p *pair) checkDown(t *testing.T) {
	t.Helper()
	for _, ep := range []*endpoint{p.a, p.b} {
		for _, st := range ep.engine.Status(context.Background()) {
			if st.State == "established" {
				t.Fatalf("%s: IKE SA established, want none: %+v", ep.name, st)
			}
		}
		if ks := ep.kernelSet(t); len(ks.SAs) != 0 {
			t.Fatalf("%s: %d kernel SAs, want 0", ep.name, len(ks.SAs))
		}
	}
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name string
		opts pairOpts
	}{
		{"ecdsa transport ipv4", pairOpts{mode: kernel.ModeTransport}},
		{"ecdsa tunnel ipv6", pairOpts{mode: kernel.ModeTunnel, v6: true}},
		{"ecdsa tunnel narrowed networks", pairOpts{mode: kernel.ModeTunnel, tunnelNetworks: true}},
		{"rsa transport ipv4", pairOpts{kind: "rsa", mode: kernel.ModeTransport}},
		{"rsa tunnel ipv6 cbc", pairOpts{kind: "rsa", mode: kernel.ModeTunnel, v6: true, aIKE: "aes256-sha384-x25519", bIKE: "aes256-sha384-x25519"}},
		{"chacha and esn", pairOpts{mode: kernel.ModeTransport, aIKE: "chacha20poly1305-prfsha256-x25519", bIKE: "chacha20poly1305-prfsha256-x25519", aESP: "aes256gcm16-esn", bESP: "aes256gcm16-esn"}},
		{"modp2048", pairOpts{mode: kernel.ModeTransport, aIKE: "aes128-sha256-modp2048", bIKE: "aes128-sha256-modp2048"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tt.opts)
			p.start(t)
			p.checkUp(t, tt.opts.mode)
			if tt.opts.tunnelNetworks {
				c := p.b.only(t).Children[0]
				if c.LocalTS[0] != "10.2.0.0/16" || c.RemoteTS[0] != "10.1.0.0/16" {
					t.Fatalf("narrowed selectors %v -> %v, want 10.2.0.0/16 -> 10.1.0.0/16", c.LocalTS, c.RemoteTS)
				}
			}
		})
	}
}

func TestHandshakeFailures(t *testing.T) {
	tests := []struct {
		name    string
		opts    pairOpts
		aLog    string // in A's errors
		bLog    string // in B's errors, exactly once
		bReason string // also in B's errors
	}{
		{"revoked initiator", pairOpts{revokeA: true}, "AUTHENTICATION_FAILED", "authentication failed", "revoked"},
		{"unknown CA", pairOpts{foreignA: true}, "AUTHENTICATION_FAILED", "authentication failed", "unknown"},
		{"revoked responder", pairOpts{revokeB: true}, "revoked", "AUTHENTICATION_FAILED", ""},
		{"IKE proposal mismatch", pairOpts{aIKE: "aes256gcm16-prfsha384-ecp384", bIKE: "aes128-sha256-modp3072"}, "NO_PROPOSAL_CHOSEN", "no proposal chosen", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tt.opts)
			p.start(t)
			p.checkDown(t)
			if n := p.a.log.count(tt.aLog); n == 0 {
				t.Errorf("a logged no error with %q", tt.aLog)
			}
			if n := p.b.log.count(tt.bLog); n != 1 {
				t.Errorf("b logged %q %d times, want once", tt.bLog, n)
			}
			if tt.bReason != "" && p.b.log.count(tt.bReason) == 0 {
				t.Errorf("b's log does not give the reason %q", tt.bReason)
			}
			// A restarts later; nothing else may be left running.
			if st := p.b.engine.Status(context.Background()); len(st) != 0 {
				t.Errorf("b keeps %d IKE SAs after the failure", len(st))
			}
			// Nor reserved: a failed IKE_AUTH gives its CHILD_SA's SPI back.
			for _, ep := range []*endpoint{p.a, p.b} {
				if n := ep.kern.Reserved(); n != 0 {
					t.Errorf("%s still holds %d SPI reservations", ep.name, n)
				}
			}
		})
	}
}

func TestChildProposalMismatch(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, aESP: "aes256gcm16", bESP: "aes128-sha256"})
	p.start(t)
	sa, sb := p.a.only(t), p.b.only(t)
	if sa.State != "established" || sb.State != "established" || len(sa.Children)+len(sb.Children) != 0 {
		t.Fatalf("want IKE SAs up without CHILD_SAs, got %+v / %+v", sa, sb)
	}
	if p.a.log.count("NO_PROPOSAL_CHOSEN") != 1 {
		t.Errorf("a did not log the NO_PROPOSAL_CHOSEN answer once")
	}
	if n := p.a.kern.Reserved(); n != 0 {
		t.Errorf("a still holds %d SPI reservations for the refused CHILD_SA", n)
	}
}

func TestInvalidKERetry(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, aIKE: "aes128-sha256-ecp256-x25519", bIKE: "aes128-sha256-x25519"})
	var inits int
	p.net.drop = func(d datagram) bool {
		if h, err := wire.ParseHeader(d.data); err == nil && h.Exchange == wire.ExchangeIKESAInit && !h.IsResponse() {
			inits++
		}
		return false
	}
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	if inits != 2 {
		t.Errorf("%d IKE_SA_INIT requests, want 2 (first with ecp256, then x25519)", inits)
	}
	if got := p.a.only(t).Algorithm; got != "aes128-sha256-prfsha256-curve25519" {
		t.Errorf("IKE algorithm %q, want curve25519", got)
	}
}

func TestRetransmission(t *testing.T) {
	for _, lose := range []struct {
		name     string
		response bool
	}{{"request lost", false}, {"response lost", true}} {
		t.Run(lose.name, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTransport})
			dropped := 0
			p.net.drop = func(d datagram) bool {
				h, _ := wire.ParseHeader(d.data)
				if h.Exchange == wire.ExchangeIKEAuth && h.IsResponse() == lose.response && dropped == 0 {
					dropped++
					return true
				}
				return false
			}
			p.start(t)
			if st := p.a.only(t); st.State == "established" {
				t.Fatal("established although IKE_AUTH was lost")
			}
			p.clock.Advance(RetransmitTimeout)
			p.net.run(t)
			p.checkUp(t, kernel.ModeTransport)
		})
	}
}

func TestPeerDeadAfterRetransmissions(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	p.net.drop = func(datagram) bool { return true }
	if err := p.a.engine.Terminate("b"); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	// Children leave the kernel at once; the IKE SA after the retries.
	if ks := p.a.kernelSet(t); len(ks.SAs) != 0 {
		t.Fatalf("a keeps %d kernel SAs while deleting", len(ks.SAs))
	}
	for i := 0; i <= RetransmitTries; i++ {
		p.clock.Advance(RetransmitTimeout << i)
		p.net.run(t)
	}
	if st := p.a.engine.Status(context.Background()); len(st) != 0 {
		t.Fatalf("a keeps %+v after the peer stopped answering", st)
	}
}

func TestDelete(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTunnel})
	p.start(t)
	p.checkUp(t, kernel.ModeTunnel)
	if err := p.b.engine.Terminate("a"); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	p.checkDown(t)
	for _, ep := range []*endpoint{p.a, p.b} {
		if ks := ep.kernelSet(t); len(ks.Policies) != 0 {
			t.Errorf("%s keeps %d policies", ep.name, len(ks.Policies))
		}
		if st := ep.engine.Status(context.Background()); len(st) != 0 {
			t.Errorf("%s keeps IKE SAs %+v", ep.name, st)
		}
	}
	// A is a "start" peer: it comes back once the delay has passed.
	p.advance(t, RestartDelay)
	p.checkUp(t, kernel.ModeTunnel)
}

func TestChildRekey(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, rekey: time.Minute})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	old := p.a.only(t).Children[0]
	p.a.kern.applied = nil
	p.clock.Advance(time.Minute)
	p.net.run(t)
	p.settle(t)
	p.checkUp(t, kernel.ModeTransport)
	now := p.a.only(t).Children[0]
	if now.InSPI == old.InSPI || now.OutSPI == old.OutSPI {
		t.Fatalf("SPIs unchanged after rekey: %+v", now)
	}
	// Some applied set held both the old and the new SAs: the new pair went
	// in before the old one was removed.
	both := false
	for _, s := range p.a.kern.applied {
		spis := map[uint32]bool{}
		for _, sa := range s.SAs {
			spis[sa.SPI] = true
		}
		if spis[hexSPI(t, old.InSPI)] && spis[hexSPI(t, now.InSPI)] && spis[hexSPI(t, old.OutSPI)] && spis[hexSPI(t, now.OutSPI)] {
			both = true
		}
	}
	if !both {
		t.Error("no kernel state held the old and the new CHILD_SA together")
	}
	// And the next rekey comes again.
	p.clock.Advance(time.Minute)
	p.net.run(t)
	p.settle(t)
	p.checkUp(t, kernel.ModeTransport)
	if again := p.a.only(t).Children[0]; again.InSPI == now.InSPI {
		t.Error("second rekey did not happen")
	}
}

func hexSPI(t *testing.T, s string) uint32 {
	t.Helper()
	var v uint32
	for _, c := range s {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint32(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint32(c-'a') + 10
		default:
			t.Fatalf("bad SPI %q", s)
		}
	}
	return v
}

func TestIKERekey(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport, rekey: 10 * time.Minute})
	p.pa.IKERekeyTime, p.pb.IKERekeyTime = time.Minute, time.Minute
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	before, kernelBefore := p.a.only(t), p.a.kernelSet(t)
	p.advance(t, time.Minute)
	p.checkUp(t, kernel.ModeTransport)
	after := p.a.only(t)
	if after.SPIi == before.SPIi || after.SPIr == before.SPIr {
		t.Fatalf("IKE SPIs unchanged: %s/%s", after.SPIi, after.SPIr)
	}
	if after.Children[0].InSPI != before.Children[0].InSPI {
		t.Errorf("the CHILD_SA changed with the IKE SA rekey")
	}
	if ks := p.a.kernelSet(t); len(ks.SAs) != len(kernelBefore.SAs) || ks.SAs[0].ID() != kernelBefore.SAs[0].ID() {
		t.Errorf("kernel SAs changed: %+v -> %+v", kernelBefore.SAs, ks.SAs)
	}
	// The new IKE SA works: the next CHILD_SA rekey and a delete go through it.
	p.advance(t, 10*time.Minute)
	p.checkUp(t, kernel.ModeTransport)
	if p.a.only(t).Children[0].InSPI == before.Children[0].InSPI {
		t.Error("no CHILD_SA rekey on the new IKE SA")
	}
	if err := p.a.engine.Terminate("b"); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	p.checkDown(t)
}

// TestFragmentation: RSA certificates make IKE_AUTH larger than 1280
// bytes; both ends announced RFC 7383 support, so it travels in fragments
// that each fit a 576-byte IPv4 or a 1280-byte IPv6 packet, and a lost
// fragment is recovered by retransmission.
func TestFragmentation(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", v6), func(t *testing.T) {
			p := newPair(t, pairOpts{kind: "rsa", mode: kernel.ModeTransport, v6: v6})
			fragments, dropped := 0, false
			p.net.drop = func(d datagram) bool {
				h, err := wire.ParseHeader(d.data)
				if err != nil || h.Exchange != wire.ExchangeIKEAuth {
					return false
				}
				if limit := map[bool]int{false: 576 - 28, true: 1280 - 48}[v6]; len(d.data) > limit {
					t.Errorf("IKE_AUTH datagram of %d bytes", len(d.data))
				}
				if h.NextPayload == wire.PayloadSKF {
					fragments++
					if !dropped && h.IsResponse() {
						dropped = true
						return true
					}
				}
				return false
			}
			p.start(t)
			p.clock.Advance(RetransmitTimeout)
			p.net.run(t)
			p.checkUp(t, kernel.ModeTransport)
			if fragments < 4 {
				t.Errorf("%d IKE_AUTH fragments, want requests and responses fragmented", fragments)
			}
		})
	}
}
