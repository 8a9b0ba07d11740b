package main

import (
	"net/netip"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestPenaltyGrows(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{0, 0}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {5, 16 * time.Second}, {6, 30 * time.Second}, {50, 30 * time.Second}} {
		if got := penalty(tc.n); got != tc.want {
			t.Errorf("penalty(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	other := netip.MustParseAddr("192.0.2.8")
	type step struct {
		do          string // "fail", "ok", "admit", "wait"
		addr        netip.Addr
		d           time.Duration // for wait
		wantWait    time.Duration // for admit
		wantBlocked bool          // for admit and fail
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a clean source goes straight in", []step{{do: "admit", addr: a}}},
		{"delay grows with failures and counts from the last one", []step{
			{do: "fail", addr: a},
			{do: "admit", addr: a, wantWait: time.Second},
			{do: "fail", addr: a},
			{do: "fail", addr: a},
			{do: "admit", addr: a, wantWait: 4 * time.Second},
			{do: "wait", d: 3 * time.Second},
			{do: "admit", addr: a, wantWait: time.Second},
			{do: "admit", addr: other},
		}},
		{"a login clears the record", []step{
			{do: "fail", addr: a}, {do: "fail", addr: a}, {do: "ok", addr: a}, {do: "admit", addr: a},
		}},
		{"ten failures block, then the block ends", []step{
			{do: "fail", addr: a}, {do: "fail", addr: a}, {do: "fail", addr: a}, {do: "fail", addr: a}, {do: "fail", addr: a},
			{do: "fail", addr: a}, {do: "fail", addr: a}, {do: "fail", addr: a}, {do: "fail", addr: a},
			{do: "fail", addr: a, wantBlocked: true},
			{do: "admit", addr: a, wantBlocked: true},
			{do: "wait", d: blockFor - time.Second},
			{do: "admit", addr: a, wantBlocked: true},
			{do: "wait", d: forgetAfter},
			{do: "admit", addr: a},
		}},
		{"quiet sources are forgotten", []step{
			{do: "fail", addr: a}, {do: "fail", addr: a}, {do: "wait", d: forgetAfter + time.Second}, {do: "admit", addr: a},
		}},
		{"one IPv6 /64 is one source", []step{
			{do: "fail", addr: netip.MustParseAddr("2001:db8::1")},
			{do: "admit", addr: netip.MustParseAddr("2001:db8::ffff:2"), wantWait: time.Second},
			{do: "admit", addr: netip.MustParseAddr("2001:db8:0:1::1")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			l := newLimiter(clock.now)
			for i, s := range tc.steps {
				switch s.do {
				case "fail":
					if _, blocked := l.failed(s.addr); blocked != s.wantBlocked {
						t.Fatalf("step %d: failed() blocked = %v, want %v", i, blocked, s.wantBlocked)
					}
				case "ok":
					l.succeeded(s.addr)
				case "wait":
					clock.advance(s.d)
				case "admit":
					v := l.admit(s.addr)
					if v.blocked != s.wantBlocked || v.wait != s.wantWait {
						t.Fatalf("step %d: admit(%v) = blocked %v wait %v, want %v %v", i, s.addr, v.blocked, v.wait, s.wantBlocked, s.wantWait)
					}
					if v.release != nil {
						v.release()
					}
				}
			}
		})
	}
}

func TestLimiterBoundsParallelHandshakes(t *testing.T) {
	l := newLimiter(time.Now)
	a := netip.MustParseAddr("198.51.100.1")
	var held []verdict
	for i := 0; i < maxPreauth; i++ {
		v := l.admit(a)
		if v.blocked {
			t.Fatalf("handshake %d refused", i+1)
		}
		held = append(held, v)
	}
	if !l.admit(a).blocked {
		t.Fatalf("handshake %d from one source admitted", maxPreauth+1)
	}
	held[0].release()
	held[0].release() // twice is harmless
	v := l.admit(a)
	if v.blocked {
		t.Fatal("a released slot was not reused")
	}
	if !l.admit(a).blocked {
		t.Fatal("a double release freed two slots")
	}
}

func TestLimiterTableIsBounded(t *testing.T) {
	l := newLimiter(time.Now)
	for i := 0; i < maxSources+100; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.failed(a)
	}
	if n := len(l.sources); n > maxSources {
		t.Fatalf("%d sources kept, at most %d allowed", n, maxSources)
	}
}
