// Package crlfetch keeps the CRLs named by certificates' distribution
// points (CDPs) current: it fetches them over plain HTTP, verifies them
// through a pki.TrustStore's CRL store, keeps them in RAM only, refetches
// shortly before each CRL's next-update, backs off on failure, and reports
// the established peers' chains that a newly stored CRL revokes.
//
// Everything is asynchronous: Watch only records URLs and starts fetches in
// the background, so the IKE engine can call it under its lock while it
// processes an IKE_AUTH. Under the strict CRL policy that attempt fails
// (no CRL yet); the peer's retry succeeds once the fetch has stored the CRL.
package crlfetch

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"alixsec.dev/ikesvc/pki"
)

// Defaults of Config's limits.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMaxSize       = 1 << 20
	DefaultMaxConcurrent = 2
	DefaultMinBackoff    = time.Minute
	DefaultMaxBackoff    = time.Hour
	// DefaultRefresh is how often a CRL without next-update is refetched.
	DefaultRefresh = time.Hour
	// DefaultLead is how long before next-update a CRL is refetched, at
	// most; short-lived CRLs are refetched after 90% of their life.
	DefaultLead = 5 * time.Minute
	// maxURLs bounds the URLs remembered, so a stream of certificates with
	// made-up distribution points cannot grow memory without end.
	maxURLs = 64
)

// Clock is the time source (ike.RealClock satisfies it).
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Doer performs an HTTP request; *http.Client is one. Tests inject a
// client whose Transport reaches an httptest server.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Config configures a Fetcher; zero limits take the defaults above.
type Config struct {
	Client Doer // nil: an http.Client without proxies or redirects
	Clock  Clock
	Logf   func(format string, args ...any) // nil: discarded
	// Established returns the chains of the peers with established SAs,
	// checked after each newly stored CRL; nil: none.
	Established func() []pki.Chain
	// Revoked is called, from a fetch goroutine and without any fetcher
	// lock held, with the chains Established returned that a newly stored
	// CRL revokes. It is at-least-once: when two fetches store CRLs at
	// about the same time, each check sees every CRL stored by then, so
	// both can report the same chain; the callee must be idempotent (ikesvc
	// re-derives from the engine what to delete).
	Revoked func([]pki.Chain)

	Timeout       time.Duration
	MaxSize       int64
	MaxConcurrent int
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	Refresh       time.Duration
	Lead          time.Duration
}

// Fetcher fetches the CRLs of watched certificates' distribution points.
type Fetcher struct {
	cfg    Config
	sem    chan struct{} // bounds concurrent fetches
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	trust  *pki.TrustStore
	urls   map[string]*source
}

// source is one distribution point URL and its schedule.
type source struct {
	url      string
	issuers  []*x509.Certificate // candidate CRL issuers (the certificates' issuers, when sent)
	inFlight bool
	stop     func() bool // the armed refetch timer, or nil
	failures int
	lastErr  string    // logged once until the error changes or a fetch succeeds
	errAt    time.Time // when the last failed attempt ended
	fetched  time.Time // when the last successful attempt ended
	crl      *x509.RevocationList
	issuer   *x509.Certificate // what verified crl (re-offered to a new trust store)
	next     time.Time
}

// New returns a Fetcher watching nothing; call SetTrust and Watch.
func New(cfg Config) (*Fetcher, error) {
	if cfg.Clock == nil {
		return nil, errors.New("crlfetch: a clock is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, DefaultTimeout)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.Refresh, DefaultRefresh)
	def(&cfg.Lead, DefaultLead)
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:   cfg.Timeout,
			Transport: &http.Transport{Proxy: nil, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second},
			// A CDP names the CRL itself; following redirects would let
			// it lead us to other schemes and hosts.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Fetcher{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), ctx: ctx, cancel: cancel, urls: map[string]*source{}}, nil
}

// SetTrust makes ts the store fetched CRLs go to, and offers it the CRLs
// fetched so far: a config commit builds a new trust store, and CRLs live
// only in RAM, so they must not be lost with the old one.
func (f *Fetcher) SetTrust(ts *pki.TrustStore) {
	f.mu.Lock()
	f.trust = ts
	type offer struct {
		url     string
		crl     *x509.RevocationList
		issuers []*x509.Certificate
	}
	var offers []offer
	for _, s := range f.urls {
		if s.crl != nil {
			offers = append(offers, offer{s.url, s.crl, append([]*x509.Certificate{s.issuer}, s.issuers...)})
		}
	}
	f.mu.Unlock()
	if ts == nil {
		return
	}
	now := f.cfg.Clock.Now()
	for _, o := range offers {
		issuer, err := verifiedIssuer(ts, o.crl, o.issuers, now)
		if err == nil {
			_, err = ts.CRLs().UpdateFrom(o.crl, issuer)
		}
		if err != nil {
			f.cfg.Logf("crlfetch: CRL from %s not accepted by the new trust store: %v", o.url, err)
		}
	}
}

// Watch learns the HTTP distribution points of leaf and of the
// intermediates (the chain a peer sent) and fetches new ones in the
// background. It never blocks; URLs already known keep their schedule.
func (f *Fetcher) Watch(leaf *x509.Certificate, intermediates []*x509.Certificate) {
	certs := append([]*x509.Certificate{leaf}, intermediates...)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	for _, c := range certs {
		if c == nil {
			continue
		}
		for _, u := range c.CRLDistributionPoints {
			if !strings.HasPrefix(strings.ToLower(u), "http://") {
				continue // HTTP only: LDAP and HTTPS are not supported
			}
			s := f.urls[u]
			if s == nil {
				if len(f.urls) >= maxURLs {
					f.cfg.Logf("crlfetch: ignoring distribution point %s of %q: already %d URLs watched", u, pki.DNString(c.RawSubject), maxURLs)
					continue
				}
				s = &source{url: u}
				f.urls[u] = s
				f.cfg.Logf("crlfetch: fetching CRL from %s (distribution point of %q)", u, pki.DNString(c.RawSubject))
				f.startLocked(s)
			}
			s.issuers = addIssuers(s.issuers, c, certs)
		}
	}
}

// addIssuers adds the certificates among certs that could have issued c
// (by name); the CRL at c's distribution point is signed by c's issuer.
func addIssuers(have []*x509.Certificate, c *x509.Certificate, certs []*x509.Certificate) []*x509.Certificate {
	for _, cand := range certs {
		if cand == c || string(cand.RawSubject) != string(c.RawIssuer) {
			continue
		}
		dup := false
		for _, h := range have {
			dup = dup || h.Equal(cand)
		}
		if !dup && len(have) < 4 {
			have = append(have, cand)
		}
	}
	return have
}

// FetchNow fetches every watched URL that is not being fetched already
// (after a config change turned fetching on, or for tests).
func (f *Fetcher) FetchNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.urls {
		f.startLocked(s)
	}
}

// startLocked starts a fetch of s unless one runs or the fetcher is closed.
func (f *Fetcher) startLocked(s *source) {
	if f.closed || s.inFlight {
		return
	}
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	s.inFlight = true
	f.wg.Add(1)
	go f.fetch(s)
}

// Close stops all timers, cancels fetches in flight and waits for them.
func (f *Fetcher) Close() {
	f.mu.Lock()
	f.closed = true
	for _, s := range f.urls {
		if s.stop != nil {
			s.stop()
			s.stop = nil
		}
	}
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

// schedule arms the refetch of s after d; f.mu is held.
func (f *Fetcher) scheduleLocked(s *source, d time.Duration) {
	if f.closed {
		return
	}
	s.next = f.cfg.Clock.Now().Add(d)
	s.stop = f.cfg.Clock.AfterFunc(d, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		s.stop = nil
		f.startLocked(s)
	})
}

// backoff is the wait after the n-th failure in a row: MinBackoff doubling
// up to MaxBackoff.
func (f *Fetcher) backoff(n int) time.Duration {
	d := f.cfg.MinBackoff
	for i := 1; i < n && d < f.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, f.cfg.MaxBackoff)
}

// refreshAfter is when to fetch again after storing crl at now: Lead
// before its next-update (or after 90% of its life, if shorter), never
// sooner than MinBackoff (a server serving a stale CRL is not hammered).
func (f *Fetcher) refreshAfter(crl *x509.RevocationList, now time.Time) time.Duration {
	if crl.NextUpdate.IsZero() {
		return f.cfg.Refresh
	}
	lead := f.cfg.Lead
	if life := crl.NextUpdate.Sub(crl.ThisUpdate); life > 0 && life/10 < lead {
		lead = life / 10
	}
	return max(crl.NextUpdate.Add(-lead).Sub(now), f.cfg.MinBackoff)
}

// fetch runs in its own goroutine: download, verify, store, reschedule.
func (f *Fetcher) fetch(s *source) {
	defer f.wg.Done()
	crl, issuer, stored, err := f.fetchAndStore(s)
	f.mu.Lock()
	s.inFlight = false
	if err != nil {
		s.failures++
		d := f.backoff(s.failures)
		if f.ctx.Err() == nil {
			s.errAt = f.cfg.Clock.Now()
			if msg := err.Error(); msg != s.lastErr {
				s.lastErr = msg
				f.cfg.Logf("crlfetch: %v (retrying in %s, then backing off up to %s)", err, d, f.cfg.MaxBackoff)
			}
		}
		f.scheduleLocked(s, d)
		f.mu.Unlock()
		return
	}
	if s.failures > 0 || s.lastErr != "" {
		f.cfg.Logf("crlfetch: CRL from %s fetched again after %d failure(s)", s.url, s.failures)
	}
	s.failures, s.lastErr, s.errAt = 0, "", time.Time{}
	s.crl, s.issuer, s.fetched = crl, issuer, f.cfg.Clock.Now()
	f.scheduleLocked(s, f.refreshAfter(crl, f.cfg.Clock.Now()))
	f.mu.Unlock()
	if stored {
		f.cfg.Logf("crlfetch: stored CRL of %q from %s (%d revoked, next update %s)", pki.DNString(crl.RawIssuer), s.url,
			len(crl.RevokedCertificateEntries), formatTime(crl.NextUpdate))
		f.checkEstablished()
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// checkEstablished reports the established chains a stored CRL revokes.
func (f *Fetcher) checkEstablished() {
	f.mu.Lock()
	ts := f.trust
	f.mu.Unlock()
	if ts == nil || f.cfg.Established == nil || f.cfg.Revoked == nil {
		return
	}
	chains := f.cfg.Established()
	var revoked []pki.Chain
	for _, i := range ts.RevokedAmong(chains) {
		revoked = append(revoked, chains[i])
	}
	if len(revoked) > 0 {
		f.cfg.Revoked(revoked)
	}
}

// fetchAndStore downloads s's CRL and offers it to the trust store.
func (f *Fetcher) fetchAndStore(s *source) (*x509.RevocationList, *x509.Certificate, bool, error) {
	select {
	case f.sem <- struct{}{}:
		defer func() { <-f.sem }()
	case <-f.ctx.Done():
		return nil, nil, false, fmt.Errorf("fetch CRL from %s: %w", s.url, f.ctx.Err())
	}
	f.mu.Lock()
	ts, issuers := f.trust, append([]*x509.Certificate(nil), s.issuers...)
	f.mu.Unlock()
	der, err := download(f.ctx, f.cfg.Client, s.url, f.cfg.Timeout, f.cfg.MaxSize)
	if err != nil {
		return nil, nil, false, err
	}
	crl, err := parseCRL(der)
	if err != nil {
		return nil, nil, false, fmt.Errorf("CRL from %s: %w", s.url, err)
	}
	if ts == nil {
		return nil, nil, false, fmt.Errorf("CRL from %s: no trust store to verify it with", s.url)
	}
	issuer, err := verifiedIssuer(ts, crl, issuers, f.cfg.Clock.Now())
	if err != nil {
		return nil, nil, false, fmt.Errorf("CRL from %s rejected: %w", s.url, err)
	}
	stored, err := ts.CRLs().UpdateFrom(crl, issuer)
	if err != nil {
		return nil, nil, false, fmt.Errorf("CRL from %s rejected: %w", s.url, err)
	}
	return crl, issuer, stored, nil
}
