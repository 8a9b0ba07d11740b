package crlfetch

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStatus brings one distribution point into each state an admin
// should be able to tell apart and checks what Status reports. Times are
// offsets from the fake clock's start; -1 means "zero time".
func TestStatus(t *testing.T) {
	const never = time.Duration(-1)
	tests := []struct {
		name string
		// run brings the fixture's one URL into the state under test.
		run          func(t *testing.T, fx *fixture)
		state        string
		number       string // of the CRL held
		revoked      int
		fetching     bool
		lastSuccess  time.Duration
		errContains  []string
		errAt        time.Duration
		failures     int
		nextFetch    time.Duration
		keepsCRLInTS bool
	}{
		{
			name: "never fetched yet",
			run: func(t *testing.T, fx *fixture) {
				t.Cleanup(fx.srv.holdRequests())
				fx.f.Watch(fx.ca.leaf(t, 10, fx.srv.url()), nil)
				waitFor(t, "the request to reach the server", func() bool { return fx.srv.count() == 1 })
			},
			state: StatePending, fetching: true, lastSuccess: never, errAt: never, nextFetch: never,
		},
		{
			name: "success",
			run: func(t *testing.T, fx *fixture) {
				fx.srv.serve(fx.ca.crl(t, 7, fx.clock.Now(), time.Hour, fx.ca.key, 3, 4))
				fx.f.Watch(fx.ca.leaf(t, 10, fx.srv.url()), nil)
				waitFor(t, "the fetch", func() bool { return fx.srv.count() == 1 && fx.idle() })
			},
			state: StateOK, number: "7", revoked: 2, lastSuccess: 0, errAt: never, nextFetch: 55 * time.Minute, keepsCRLInTS: true,
		},
		{
			name: "failure after success keeps the old CRL",
			run: func(t *testing.T, fx *fixture) {
				fx.srv.serve(fx.ca.crl(t, 7, fx.clock.Now(), time.Hour, fx.ca.key))
				fx.f.Watch(fx.ca.leaf(t, 10, fx.srv.url()), nil)
				waitFor(t, "the fetch", func() bool { return fx.srv.count() == 1 && fx.idle() })
				fx.srv.serve(nil) // 404 from now on
				fx.clock.Advance(10 * time.Minute)
				fx.f.FetchNow()
				waitFor(t, "the failed refetch", func() bool { return fx.srv.count() == 2 && fx.idle() })
			},
			state: StateFailing, number: "7", lastSuccess: 0, errContains: []string{"error status", "404 Not Found"},
			errAt: 10 * time.Minute, failures: 1, nextFetch: 11 * time.Minute, keepsCRLInTS: true,
		},
		{
			name: "CRL that fails verification",
			run: func(t *testing.T, fx *fixture) {
				fx.srv.serve(fx.ca.crl(t, 7, fx.clock.Now(), time.Hour, newKey(t))) // right name, wrong key
				fx.f.Watch(fx.ca.leaf(t, 10, fx.srv.url()), nil)
				waitFor(t, "the fetch", func() bool { return fx.srv.count() == 1 && fx.idle() })
				fx.clock.Advance(time.Minute)
				waitFor(t, "the retry", func() bool { return fx.srv.count() == 2 && fx.idle() })
			},
			state: StateFailing, lastSuccess: never, errContains: []string{"rejected", "signature does not verify", "Test Root CA"},
			errAt: time.Minute, failures: 2, nextFetch: 3 * time.Minute,
		},
		{
			name: "success after failure clears the error",
			run: func(t *testing.T, fx *fixture) {
				fx.f.Watch(fx.ca.leaf(t, 10, fx.srv.url()), nil) // 404: nothing served yet
				waitFor(t, "the failed fetch", func() bool { return fx.srv.count() == 1 && fx.idle() })
				fx.srv.serve(fx.ca.crl(t, 8, fx.clock.Now(), 24*time.Hour, fx.ca.key))
				fx.clock.Advance(time.Minute)
				waitFor(t, "the retry", func() bool { return fx.srv.count() == 2 && fx.idle() })
			},
			state: StateOK, number: "8", lastSuccess: time.Minute, errAt: never, nextFetch: 24*time.Hour - 5*time.Minute, keepsCRLInTS: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			t0 := fx.clock.Now()
			at := func(d time.Duration) time.Time {
				if d == never {
					return time.Time{}
				}
				return t0.Add(d)
			}
			tt.run(t, fx)
			st := fx.status(t)
			if st.URL != fx.srv.url() {
				t.Errorf("URL %q, want %q", st.URL, fx.srv.url())
			}
			if got := st.State(); got != tt.state {
				t.Errorf("state %q, want %q", got, tt.state)
			}
			if st.Number != tt.number || st.Revoked != tt.revoked {
				t.Errorf("CRL number %q with %d revoked, want %q with %d", st.Number, st.Revoked, tt.number, tt.revoked)
			}
			if tt.number == "" {
				if st.Issuer != "" || !st.ThisUpdate.IsZero() || !st.NextUpdate.IsZero() {
					t.Errorf("no CRL held, yet issuer %q, this-update %v, next-update %v", st.Issuer, st.ThisUpdate, st.NextUpdate)
				}
			} else if st.Issuer != "CN=Test Root CA" || st.ThisUpdate.IsZero() || st.NextUpdate.Sub(st.ThisUpdate) < time.Hour {
				t.Errorf("CRL issuer %q, this-update %v, next-update %v", st.Issuer, st.ThisUpdate, st.NextUpdate)
			}
			if st.Fetching != tt.fetching {
				t.Errorf("fetching %v, want %v", st.Fetching, tt.fetching)
			}
			if !st.LastSuccess.Equal(at(tt.lastSuccess)) {
				t.Errorf("last success %v, want %v", st.LastSuccess, at(tt.lastSuccess))
			}
			if !st.LastErrorAt.Equal(at(tt.errAt)) {
				t.Errorf("last error at %v, want %v", st.LastErrorAt, at(tt.errAt))
			}
			// CRL times have whole seconds, so the schedule is within 1 s.
			if d := st.NextFetch.Sub(at(tt.nextFetch)); st.NextFetch.IsZero() != (tt.nextFetch == never) || d <= -time.Second || d >= time.Second {
				t.Errorf("next fetch %v, want %v", st.NextFetch, at(tt.nextFetch))
			}
			if st.Failures != tt.failures {
				t.Errorf("%d failures, want %d", st.Failures, tt.failures)
			}
			if (st.LastError != "") != (len(tt.errContains) > 0) {
				t.Errorf("last error %q, want one containing %q", st.LastError, tt.errContains)
			}
			for _, want := range tt.errContains {
				if !strings.Contains(st.LastError, want) {
					t.Errorf("last error %q lacks %q", st.LastError, want)
				}
			}
			if strings.Contains(st.LastError, st.URL) {
				t.Errorf("last error %q repeats the URL", st.LastError)
			}
			if held := fx.ts.CRLs().ForIssuer(fx.ca.cert) != nil; held != tt.keepsCRLInTS {
				t.Errorf("trust store holds a CRL: %v, want %v", held, tt.keepsCRLInTS)
			}
		})
	}
}

func TestWithoutURL(t *testing.T) {
	const u = "http://crl.example.net/ca.crl"
	tests := []struct{ msg, want string }{
		{"fetch CRL from " + u + ": dial tcp 192.0.2.1:80: connect: connection refused", "dial tcp 192.0.2.1:80: connect: connection refused"},
		{"CRL from " + u + ": parsing CRL (3 bytes): asn1: syntax error", "parsing CRL (3 bytes): asn1: syntax error"},
		{"CRL from " + u + " rejected: CRL of \"CN=x\": bad", "rejected: CRL of \"CN=x\": bad"},
		{"CRL from http://other/ca.crl: boom", "CRL from http://other/ca.crl: boom"},
	}
	for _, tt := range tests {
		if got := withoutURL(tt.msg, u); got != tt.want {
			t.Errorf("withoutURL(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

// TestStatusWhileFetching reads the status while fetches run; -race
// checks that it shares nothing unguarded with them.
func TestStatusWhileFetching(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.serve(fx.ca.crl(t, 1, fx.clock.Now(), time.Hour, fx.ca.key))
	fx.f.Watch(fx.ca.leaf(t, 10, fx.srv.url()), nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				fx.f.Status()
			}
		}
	})
	for i := 0; i < 20; i++ {
		fx.f.FetchNow()
		fx.clock.Advance(time.Second)
	}
	waitFor(t, "the fetches to finish", fx.idle)
	close(stop)
	wg.Wait()
	if st := fx.status(t); st.State() != StateOK || st.Number != "1" {
		t.Errorf("after the fetches: %+v", st)
	}
}
