package main

import (
	"net/netip"
	"sync"
	"time"
)

// Failed-login policy per source: after n failed logins a new
// connection from the source waits penalty(n) counted from its last
// failure (1 s, 2 s, 4 s ... up to maxDelay); after blockAfter failures
// the source is refused outright for blockFor. A source that fails no
// more for forgetAfter starts clean, as does one that logs in. At most
// maxPreauth connections per source may be in the handshake at once, so
// parallel connections cannot sidestep the delay.
const (
	baseDelay   = time.Second
	maxDelay    = 30 * time.Second
	blockAfter  = 10
	blockFor    = 10 * time.Minute
	forgetAfter = 15 * time.Minute
	maxPreauth  = 3
	maxSources  = 1024 // bounds the table's memory under a spray of sources
)

// limiter keeps the failed-login record of each source. Sources are
// IPv4 addresses and IPv6 /64s (one host owns a whole /64).
type limiter struct {
	now func() time.Time

	mu      sync.Mutex
	sources map[netip.Prefix]*sourceRecord
}

type sourceRecord struct {
	failures     int
	lastFailure  time.Time
	blockedUntil time.Time
	preauth      int // connections in the handshake now
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, sources: map[netip.Prefix]*sourceRecord{}}
}

// sourceOf maps an address to the unit the limiter counts.
func sourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// penalty is the wait imposed after n failures.
func penalty(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := baseDelay
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// verdict is admit's answer for one new connection.
type verdict struct {
	blocked bool          // refuse the connection
	wait    time.Duration // delay before the handshake
	release func()        // call when the handshake ends (nil when blocked)
}

// admit decides about a new connection from a.
func (l *limiter) admit(a netip.Addr) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	src, now := sourceOf(a), l.now()
	r := l.record(src, now)
	if now.Before(r.blockedUntil) || r.preauth >= maxPreauth {
		return verdict{blocked: true}
	}
	r.preauth++
	wait := time.Duration(0)
	if r.failures > 0 {
		wait = max(0, r.lastFailure.Add(penalty(r.failures)).Sub(now))
	}
	released := false
	return verdict{wait: wait, release: func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !released {
			released = true
			if r := l.sources[src]; r != nil && r.preauth > 0 {
				r.preauth--
			}
		}
	}}
}

// record returns src's record, forgetting a stale one, and evicts the
// oldest record when the table is full.
func (l *limiter) record(src netip.Prefix, now time.Time) *sourceRecord {
	r := l.sources[src]
	if r != nil && r.preauth == 0 && now.Sub(r.lastFailure) > forgetAfter && !now.Before(r.blockedUntil) {
		r.failures = 0
	}
	if r == nil {
		if len(l.sources) >= maxSources {
			l.evict(now)
		}
		r = &sourceRecord{}
		l.sources[src] = r
	}
	return r
}

func (l *limiter) evict(now time.Time) {
	var oldest netip.Prefix
	var oldestT time.Time
	for p, r := range l.sources {
		if r.preauth > 0 || now.Before(r.blockedUntil) {
			continue
		}
		if oldestT.IsZero() || r.lastFailure.Before(oldestT) {
			oldest, oldestT = p, r.lastFailure
		}
	}
	if oldest.IsValid() {
		delete(l.sources, oldest)
	}
}

// failed counts a failed login from a and returns the source's failures
// so far and whether it is now blocked.
func (l *limiter) failed(a netip.Addr) (failures int, blocked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := l.record(sourceOf(a), now)
	r.failures++
	r.lastFailure = now
	if r.failures >= blockAfter {
		r.blockedUntil = now.Add(blockFor)
		return r.failures, true
	}
	return r.failures, false
}

// succeeded clears a's record after a login.
func (l *limiter) succeeded(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.sources[sourceOf(a)]; r != nil {
		r.failures, r.blockedUntil = 0, time.Time{}
		if r.preauth == 0 {
			delete(l.sources, sourceOf(a))
		}
	}
}
