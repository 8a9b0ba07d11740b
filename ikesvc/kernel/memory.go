package kernel

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// larvalLifetime mirrors the kernel's default net.core.xfrm_acq_expires.
const larvalLifetime = 30 * time.Second

// Memory is a Backend that keeps SAs and policies in process. It applies the
// same ownership rule and reconcile plan as Netlink and fails the same way
// (EEXIST when an unowned entry holds an identity, ESRCH/ENOENT for missing
// ones), so the IKE state machine can be tested, and ikesvc run with
// `-kernel memory`, on hosts without ESP. Nothing is encrypted.
type Memory struct {
	own Ownership
	now func() time.Time

	mu       sync.Mutex
	sas      map[SAID]memSA // owned and unowned (Preload) entries
	larval   map[SAID]memLarval
	policies map[PolicyID]Policy
	nextSPI  uint32
	subs     map[*memSub]struct{}
}

type memSA struct {
	sa       SA
	counters Counters
}

type memLarval struct {
	reqid   uint32
	expires time.Time
}

var _ Backend = (*Memory)(nil)

// NewMemory returns an empty in-memory backend. now is the clock for counter
// timestamps and SPI reservation expiry (time.Now in production).
func NewMemory(own Ownership, now func() time.Time) (*Memory, error) {
	if err := own.check(); err != nil {
		return nil, err
	}
	return &Memory{
		own: own, now: now,
		sas:      map[SAID]memSA{},
		larval:   map[SAID]memLarval{},
		policies: map[PolicyID]Policy{},
		nextSPI:  0xc0000000,
		subs:     map[*memSub]struct{}{},
	}, nil
}

// Apply implements Backend.
func (m *Memory) Apply(ctx context.Context, desired Set) (Changes, error) {
	want, err := normalized(desired, m.own)
	if err != nil {
		return Changes{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLarvalLocked()
	return execute(ctx, makePlan(want, m.installedLocked(), diffSAFull), memOps{m})
}

func (m *Memory) installedLocked() installed {
	have := installed{sas: map[SAID]SA{}, larval: map[SAID]bool{}, policies: map[PolicyID]Policy{}}
	for id, e := range m.sas {
		if m.own.ownsSA(e.sa) {
			have.sas[id] = e.sa
		}
	}
	for id, l := range m.larval {
		if m.own.ownsReqid(l.reqid) {
			have.larval[id] = true
		}
	}
	for id, p := range m.policies {
		if m.own.ownsPolicy(p) {
			have.policies[id] = p
		}
	}
	return have
}

func (m *Memory) expireLarvalLocked() {
	now := m.now()
	for id, l := range m.larval {
		if !now.Before(l.expires) {
			delete(m.larval, id)
		}
	}
}

// List implements Backend.
func (m *Memory) List(ctx context.Context) (Set, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	have := m.installedLocked()
	var s Set
	for _, sa := range have.sas {
		s.SAs = append(s.SAs, sa)
	}
	for _, p := range have.policies {
		s.Policies = append(s.Policies, p)
	}
	sortSAs(s.SAs)
	sortPolicies(s.Policies)
	return s, nil
}

// Counters implements Backend.
func (m *Memory) Counters(ctx context.Context, id SAID) (Counters, error) {
	id = normalizeID(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.sas[id]
	if !ok {
		return Counters{}, fmt.Errorf("kernel: counters of %s: %w", id, ErrNotFound)
	}
	return e.counters, nil
}

// AllocSPI implements Backend.
func (m *Memory) AllocSPI(ctx context.Context, src, dst netip.Addr, reqid uint32) (uint32, error) {
	dst = dst.Unmap()
	if !src.IsValid() || !dst.IsValid() {
		return 0, fmt.Errorf("kernel: alloc SPI %s->%s: invalid address", src, dst)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLarvalLocked()
	for range 1 << 16 {
		spi := m.nextSPI
		m.nextSPI++
		if m.nextSPI < 0x100 {
			m.nextSPI = 0x100
		}
		id := SAID{Dst: dst, SPI: spi}
		if _, used := m.sas[id]; used {
			continue
		}
		if _, used := m.larval[id]; used {
			continue
		}
		m.larval[id] = memLarval{reqid: reqid, expires: m.now().Add(larvalLifetime)}
		return spi, nil
	}
	return 0, fmt.Errorf("kernel: alloc SPI %s->%s: no free SPI", src, dst)
}

// DeleteSA implements Backend.
func (m *Memory) DeleteSA(ctx context.Context, id SAID) error {
	id = normalizeID(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sas, id)
	delete(m.larval, id)
	return nil
}

// Close implements Backend.
func (m *Memory) Close() error { return nil }

// Reserved counts the SPI reservations (AllocSPI) not yet installed,
// deleted or expired: a leak test's measure.
func (m *Memory) Reserved() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLarvalLocked()
	return len(m.larval)
}

// Preload installs entries without any check, as if another program or an
// earlier ikesvc run had left them behind. Tests use it to prove that Apply
// removes stale owned entries and leaves unowned ones alone.
func (m *Memory) Preload(s Set) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sa := range s.SAs {
		sa.Mark = normalizeMark(sa.Mark)
		m.sas[sa.ID()] = memSA{sa: sa, counters: Counters{Added: m.now()}}
	}
	for _, p := range s.Policies {
		p.Mark = normalizeMark(p.Mark)
		m.policies[p.ID()] = p
	}
}

// AddTraffic adds to an SA's counters, standing in for packets the kernel
// would have processed.
func (m *Memory) AddTraffic(id SAID, bytes, packets uint64) error {
	id = normalizeID(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.sas[id]
	if !ok {
		return fmt.Errorf("kernel: add traffic to %s: %w", id, ErrNotFound)
	}
	e.counters.Bytes += bytes
	e.counters.Packets += packets
	e.counters.LastUsed = m.now()
	m.sas[id] = e
	return nil
}

func normalizeID(id SAID) SAID {
	id.Dst = id.Dst.Unmap()
	id.Mark = normalizeMark(id.Mark)
	return id
}

// memOps are the primitive operations on Memory's maps; the caller holds mu.
type memOps struct{ m *Memory }

func (o memOps) addSA(sa SA) error {
	id := sa.ID()
	if _, ok := o.m.sas[id]; ok {
		return syscall.EEXIST
	}
	if _, ok := o.m.larval[id]; ok {
		return syscall.EEXIST
	}
	o.m.sas[id] = memSA{sa: sa, counters: Counters{Added: o.m.now()}}
	return nil
}

func (o memOps) updateSA(sa SA) error {
	id := sa.ID()
	if _, ok := o.m.larval[id]; ok {
		delete(o.m.larval, id)
		o.m.sas[id] = memSA{sa: sa, counters: Counters{Added: o.m.now()}}
		return nil
	}
	e, ok := o.m.sas[id]
	if !ok {
		return syscall.ESRCH
	}
	// Like XFRM_MSG_UPDSA on a valid SA: only the lifetime and the ports of
	// an existing encapsulation change.
	e.sa.Lifetime = sa.Lifetime
	if e.sa.Encap != nil && sa.Encap != nil {
		encap := *sa.Encap
		e.sa.Encap = &encap
	}
	o.m.sas[id] = e
	return nil
}

func (o memOps) deleteSA(sa SA) error {
	id := sa.ID()
	if _, ok := o.m.sas[id]; !ok {
		return syscall.ESRCH
	}
	delete(o.m.sas, id)
	return nil
}

func (o memOps) addPolicy(p Policy) error {
	if _, ok := o.m.policies[p.ID()]; ok {
		return syscall.EEXIST
	}
	o.m.policies[p.ID()] = p
	return nil
}

func (o memOps) updatePolicy(p Policy) error {
	o.m.policies[p.ID()] = p // XFRM_MSG_UPDPOLICY also inserts
	return nil
}

func (o memOps) deletePolicy(p Policy) error {
	if _, ok := o.m.policies[p.ID()]; !ok {
		return syscall.ENOENT
	}
	delete(o.m.policies, p.ID())
	return nil
}
