package ike

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// trafficMonitor watches the kernels of a pair after every change either
// engine makes and checks what a ping in each direction would meet. The
// sender's kernel sends on the newest outbound SA towards the peer (XFRM
// picks the most recently added valid SA of the policy's reqid), so that
// SA must be installed inbound at the receiver, under a policy of its
// reqid, at every moment; and an SA the sender stopped using must stay
// at the receiver for inFlight more, for the packets still on their way.
type trafficMonitor struct {
	t        testing.TB
	clock    *fakeClock
	a, b     *endpoint
	inFlight time.Duration

	mu     sync.Mutex
	armed  bool
	seq    int
	added  map[*endpoint]map[kernel.SAID]int // outbound SA -> when first seen
	using  map[*endpoint]kernel.SAID         // the SA each sender now uses
	ended  map[kernel.SAID]time.Time         // when a sender stopped using an SA
	checks int
	fails  []string
}

func newTrafficMonitor(t testing.TB, p *pair, inFlight time.Duration) *trafficMonitor {
	m := &trafficMonitor{t: t, clock: p.clock, a: p.a, b: p.b, inFlight: inFlight,
		added: map[*endpoint]map[kernel.SAID]int{p.a: {}, p.b: {}},
		using: map[*endpoint]kernel.SAID{}, ended: map[kernel.SAID]time.Time{}}
	for _, ep := range []*endpoint{p.a, p.b} {
		ep.kern.mu.Lock()
		ep.kern.after = m.check
		ep.kern.mu.Unlock()
	}
	return m
}

// arm starts the checks (the SAs must be up) and disarm stops them.
func (m *trafficMonitor) arm() {
	m.mu.Lock()
	m.armed = true
	m.mu.Unlock()
	m.check()
}

func (m *trafficMonitor) disarm() {
	m.mu.Lock()
	m.armed = false
	m.mu.Unlock()
}

func (m *trafficMonitor) failf(format string, args ...any) {
	m.fails = append(m.fails, fmt.Sprintf("%v: ", m.clock.Now().Format("15:04:05.000"))+fmt.Sprintf(format, args...))
}

func list(ep *endpoint) kernel.Set {
	s, _ := ep.kern.Memory.List(context.Background())
	return s
}

// check runs after every kernel change of either side.
func (m *trafficMonitor) check() {
	m.mu.Lock()
	defer m.mu.Unlock()
	sets := map[*endpoint]kernel.Set{m.a: list(m.a), m.b: list(m.b)}
	now := m.clock.Now()
	for _, dir := range [][2]*endpoint{{m.a, m.b}, {m.b, m.a}} {
		from, to := dir[0], dir[1]
		seen := m.added[from]
		present := map[kernel.SAID]bool{}
		var best kernel.SA
		bestSeq := -1
		for _, sa := range sets[from].SAs {
			if sa.Src != from.addr || sa.Dst != to.addr {
				continue
			}
			id := sa.ID()
			present[id] = true
			if _, ok := seen[id]; !ok {
				m.seq++
				seen[id] = m.seq
			}
			if seen[id] > bestSeq {
				best, bestSeq = sa, seen[id]
			}
		}
		for id := range seen {
			if !present[id] {
				delete(seen, id)
			}
		}
		if !m.armed {
			continue
		}
		m.checks++
		prev, had := m.using[from]
		if bestSeq < 0 {
			m.failf("%s has no outbound SA to %s", from.name, to.name)
			delete(m.using, from)
		} else {
			m.using[from] = best.ID()
			if had && prev != best.ID() {
				m.ended[prev] = now
			}
			if !hasPolicy(sets[from], kernel.DirOut, best.Reqid) {
				m.failf("%s sends on SA %08x (reqid %#x) but has no out policy of that reqid", from.name, best.SPI, best.Reqid)
			}
		}
		// What the receiver holds for this direction.
		inbound := map[kernel.SAID]bool{}
		for _, sa := range sets[to].SAs {
			if sa.Src == from.addr && sa.Dst == to.addr {
				inbound[sa.ID()] = true
			}
		}
		if bestSeq >= 0 {
			if !inbound[best.ID()] {
				m.failf("%s sends on SA %08x, which %s does not hold: packets lost", from.name, best.SPI, to.name)
			} else if !hasPolicy(sets[to], kernel.DirIn, best.Reqid) {
				m.failf("%s holds SA %08x without an in policy of reqid %#x", to.name, best.SPI, best.Reqid)
			}
		}
		for id, end := range m.ended {
			if id.Dst != to.addr {
				continue
			}
			if !inbound[id] {
				if now.Sub(end) < m.inFlight {
					m.failf("%s removed SA %08x %v after %s stopped using it, want at least %v for packets in flight", to.name, id.SPI, now.Sub(end), from.name, m.inFlight)
				}
				delete(m.ended, id)
			}
		}
	}
}

func hasPolicy(s kernel.Set, dir kernel.Direction, reqid uint32) bool {
	for _, p := range s.Policies {
		if p.Dir == dir && p.Template != nil && p.Template.Reqid == reqid {
			return true
		}
	}
	return false
}

// result reports the failures and checks that the monitor looked at all.
func (m *trafficMonitor) result(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.fails {
		t.Error(f)
	}
	if m.checks == 0 {
		t.Error("the traffic monitor never ran")
	}
}

// onePair asserts that each kernel holds exactly one SA per direction and
// that they pair up.
func onePair(t testing.TB, a, b *endpoint) {
	t.Helper()
	sa, sb := list(a), list(b)
	if len(sa.SAs) != 2 || len(sb.SAs) != 2 {
		t.Fatalf("kernel SAs: %s %d, %s %d; want one pair: %v / %v", a.name, len(sa.SAs), b.name, len(sb.SAs), sa.SAs, sb.SAs)
	}
	ids := map[kernel.SAID]bool{}
	for _, x := range sa.SAs {
		ids[x.ID()] = true
	}
	for _, y := range sb.SAs {
		if !ids[y.ID()] {
			t.Fatalf("%s's SA %08x has no counterpart on %s", b.name, y.SPI, a.name)
		}
	}
}
