package ike

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// fakeClock runs timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at            time.Time
	f             func()
	stopped, done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.done || t.stopped {
			return false
		}
		t.stopped = true
		return true
	}
}

// Advance moves time forward by d, firing due timers in order, each with
// the clock unlocked (callbacks take the engine lock and arm new timers).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		live := c.timers[:0]
		for _, t := range c.timers {
			if t.done || t.stopped {
				continue
			}
			live = append(live, t)
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		c.timers = live
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		if next.at.After(c.now) {
			c.now = next.at
		}
		next.done = true
		c.mu.Unlock()
		next.f()
	}
}

// pending counts armed timers (leak checks).
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done && !t.stopped {
			n++
		}
	}
	return n
}

type datagram struct {
	data     []byte
	from, to netip.AddrPort
}

// testNet delivers datagrams between engines in the test's goroutine, so
// a handshake is a deterministic sequence of HandlePacket calls.
type testNet struct {
	mu      sync.Mutex
	queue   []datagram
	engines map[netip.Addr]*Engine
	// drop, when set, decides per datagram whether it is lost.
	drop func(d datagram) bool
	// sent records every datagram (for replay and fuzz tests).
	sent []datagram
	// rewrite, when set, changes addresses in flight (a NAT).
	rewrite func(d datagram) datagram
	// keepalives records the NAT-keepalives sent (never delivered: the
	// receiving socket drops them before IKE sees them).
	keepalives []datagram
	// hold, when set, decides per datagram whether it waits in held
	// (delayed, not lost) until release.
	hold func(d datagram) bool
	held []datagram
}

// release puts the held datagrams that match (all when match is nil)
// back in flight, in their order.
func (n *testNet) release(match func(d datagram) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var keep []datagram
	for _, d := range n.held {
		if match == nil || match(d) {
			n.queue = append(n.queue, d)
		} else {
			keep = append(keep, d)
		}
	}
	n.held = keep
}

func newTestNet() *testNet { return &testNet{engines: map[netip.Addr]*Engine{}} }

func (n *testNet) Send(packet []byte, from, to netip.AddrPort) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := datagram{slices.Clone(packet), from, to}
	n.queue = append(n.queue, d)
	n.sent = append(n.sent, datagram{slices.Clone(packet), from, to})
	return nil
}

// SendKeepalive implements KeepaliveSender.
func (n *testNet) SendKeepalive(from, to netip.AddrPort) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keepalives = append(n.keepalives, datagram{[]byte{0xff}, from, to})
	return nil
}

// keepalivesFrom counts the NAT-keepalives sent from addr.
func (n *testNet) keepalivesFrom(addr netip.Addr) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, d := range n.keepalives {
		if d.from.Addr() == addr {
			c++
		}
	}
	return c
}

// run delivers until no datagram is in flight.
func (n *testNet) run(t testing.TB) {
	t.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("test network: datagrams never stop (a loop between the engines?)")
		}
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.mu.Unlock()
			return
		}
		d := n.queue[0]
		n.queue = n.queue[1:]
		drop := n.drop
		if n.hold != nil && n.hold(d) {
			n.held = append(n.held, d)
			n.mu.Unlock()
			continue
		}
		if n.rewrite != nil {
			d = n.rewrite(d)
		}
		e := n.engines[d.to.Addr()]
		n.mu.Unlock()
		if e == nil || (drop != nil && drop(d)) {
			continue
		}
		e.HandlePacket(d.data, d.from, d.to)
	}
}

// logBuffer collects an engine's log lines.
type logBuffer struct {
	mu     sync.Mutex
	t      testing.TB
	errors []string
	lines  []string // every line, verbose and error
	quiet  bool     // fuzz functions may not call the outer t.Logf
}

func (l *logBuffer) logf(f string, a ...any) {
	l.mu.Lock()
	quiet := l.quiet
	l.mu.Unlock()
	if !quiet {
		l.t.Logf(f, a...)
	}
}

func (l *logBuffer) logger(name string) Logger {
	return Logger{
		Verbosef: func(f string, a ...any) {
			l.mu.Lock()
			if !l.quiet { // fuzzing would pile lines up
				l.lines = append(l.lines, fmt.Sprintf(f, a...))
			}
			l.mu.Unlock()
			l.logf("%s: "+f, append([]any{name}, a...)...)
		},
		Errorf: func(f string, a ...any) {
			l.mu.Lock()
			l.errors = append(l.errors, fmt.Sprintf(f, a...))
			if !l.quiet {
				l.lines = append(l.lines, fmt.Sprintf(f, a...))
			}
			l.mu.Unlock()
			l.logf("%s: ERROR "+f, append([]any{name}, a...)...)
		},
	}
}

// count is how many error lines contain s.
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.errors {
		if strings.Contains(e, s) {
			n++
		}
	}
	return n
}

// countLines is how many lines, verbose or error, satisfy match.
func (l *logBuffer) countLines(match func(string) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if match(line) {
			n++
		}
	}
	return n
}

// recordingKernel wraps a Memory backend and remembers every applied set.
type recordingKernel struct {
	*kernel.Memory
	mu      sync.Mutex
	applied []kernel.Set
	changes []kernel.Changes
	// after, when set, runs after every Apply (a traffic monitor); it
	// must not call into the engine, whose lock is held.
	after func()
}

func (r *recordingKernel) Apply(ctx context.Context, s kernel.Set) (kernel.Changes, error) {
	r.mu.Lock()
	r.applied = append(r.applied, s)
	r.mu.Unlock()
	c, err := r.Memory.Apply(ctx, s)
	r.mu.Lock()
	r.changes = append(r.changes, c)
	after := r.after
	r.mu.Unlock()
	if after != nil {
		after()
	}
	return c, err
}

type endpoint struct {
	name   string
	addr   netip.Addr
	engine *Engine
	kern   *recordingKernel
	log    *logBuffer
	cert   *x509.Certificate
	// What a reboot needs to start the same host again.
	key   crypto.Signer
	inter *x509.Certificate
	trust *pki.TrustStore
}

type endpointOpts struct {
	certPKI  *testPKI // issues our certificate
	trustPKI *testPKI // the CA we trust
	kind     string
}

func newEndpoint(t testing.TB, n *testNet, clock *fakeClock, name string, addr netip.Addr, o endpointOpts) *endpoint {
	t.Helper()
	cert, key := o.certPKI.issue(t, name+".example.net", o.kind, addr)
	return newEndpointWith(t, n, clock, name, addr, cert, key, o.certPKI.inter, o.trustPKI.trust(t))
}

// newEndpointWith makes an endpoint; configure, when given, changes its
// engine's Config before New.
func newEndpointWith(t testing.TB, n *testNet, clock *fakeClock, name string, addr netip.Addr, cert *x509.Certificate, key crypto.Signer, inter *x509.Certificate, trust *pki.TrustStore, configure ...func(*Config)) *endpoint {
	t.Helper()
	mem, err := kernel.NewMemory(kernel.DefaultOwnership(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ep := &endpoint{name: name, addr: addr, kern: &recordingKernel{Memory: mem}, log: &logBuffer{t: t}, cert: cert,
		key: key, inter: inter, trust: trust}
	cfg := Config{
		Transport: n, Kernel: ep.kern, Clock: clock, Log: ep.log.logger(name), Trust: trust,
		Creds:     Credentials{Key: key, Cert: cert, Intermediates: []*x509.Certificate{inter}},
		LocalAddr: func(netip.Addr) (netip.Addr, error) { return addr, nil },
	}
	for _, f := range configure {
		f(&cfg)
	}
	ep.engine, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.engines[addr] = ep.engine
	t.Cleanup(func() { ep.engine.Close() })
	return ep
}

func mustProposals(t testing.TB, proto wire.ProtocolID, s string) []suite.Proposal {
	t.Helper()
	ps, err := suite.ParseProposals(proto, s)
	if err != nil {
		t.Fatalf("proposals %q: %v", s, err)
	}
	return ps
}

func matcher(t testing.TB, s string) pki.PeerMatcher {
	t.Helper()
	m, err := pki.ParsePeerMatcher(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// status returns the endpoint's single IKE SA, failing unless there is one.
func (ep *endpoint) only(t testing.TB) IKESAStatus {
	t.Helper()
	st := ep.engine.Status(context.Background())
	if len(st) != 1 {
		t.Fatalf("%s: %d IKE SAs, want 1: %+v", ep.name, len(st), st)
	}
	return st[0]
}

func (ep *endpoint) kernelSet(t testing.TB) kernel.Set {
	t.Helper()
	s, err := ep.kern.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
