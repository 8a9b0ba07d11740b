package crlfetch

import (
	"slices"
	"strings"
	"time"

	"alixsec.dev/ikesvc/pki"
)

// Status is one watched distribution point as `show pki` and ikesvc's
// control socket report it. Zero times mean "never" or "not given".
type Status struct {
	URL string `json:"url"`
	// The CRL last stored from URL (empty and zero when none yet).
	Issuer     string    `json:"issuer,omitempty"` // its issuer's DN
	Number     string    `json:"number,omitempty"` // its CRL number, decimal
	ThisUpdate time.Time `json:"this_update,omitzero"`
	NextUpdate time.Time `json:"next_update,omitzero"`
	Revoked    int       `json:"revoked,omitempty"`
	// LastSuccess is when a fetch last ended with a verified CRL.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError (without the URL) and LastErrorAt are set while the
	// last attempt failed; Failures counts the failed attempts in a row.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	// Fetching is set while a fetch runs; NextFetch is when the next
	// one is due otherwise.
	Fetching  bool      `json:"fetching,omitempty"`
	NextFetch time.Time `json:"next_fetch,omitzero"`
}

// States of a distribution point (Status.State).
const (
	StatePending = "pending" // not fetched successfully yet, and no attempt failed
	StateOK      = "ok"      // the last attempt stored a verified CRL
	StateFailing = "failing" // the last attempt failed
)

// State sums s up as StatePending, StateOK or StateFailing.
func (s Status) State() string {
	switch {
	case s.Failures > 0:
		return StateFailing
	case s.LastSuccess.IsZero():
		return StatePending
	default:
		return StateOK
	}
}

// Status lists the watched URLs sorted by URL. It is safe for concurrent
// use with fetches in flight.
func (f *Fetcher) Status() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Status, 0, len(f.urls))
	for _, s := range f.urls {
		st := Status{URL: s.url, LastSuccess: s.fetched, Failures: s.failures, Fetching: s.inFlight}
		if !s.inFlight {
			st.NextFetch = s.next
		}
		if s.failures > 0 {
			st.LastError, st.LastErrorAt = withoutURL(s.lastErr, s.url), s.errAt
		}
		if c := s.crl; c != nil {
			st.Issuer = pki.DNString(c.RawIssuer)
			st.ThisUpdate, st.NextUpdate = c.ThisUpdate, c.NextUpdate
			st.Revoked = len(c.RevokedCertificateEntries)
			if c.Number != nil {
				st.Number = c.Number.String()
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.URL, b.URL) })
	return out
}

// withoutURL drops the "fetch CRL from URL: " and "CRL from URL" prefixes
// this package's errors start with: a status line shows the URL already,
// and an 80-column console has no room for it twice.
func withoutURL(msg, url string) string {
	for _, p := range []string{"fetch CRL from " + url + ": ", "CRL from " + url + ": ", "CRL from " + url + " "} {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			return rest
		}
	}
	return msg
}
