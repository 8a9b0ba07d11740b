package control

import (
	"fmt"
	"io"
	"strings"
	"time"

	"alixsec.dev/ikesvc/crlfetch"
)

// CRLTitle opens the section FormatCRLs writes, in `show pki` too.
const CRLTitle = "CRL distribution points"

// FormatCRLs writes the answer to crls the way `show pki` prints it: a
// one-line section when fetching is off or no URL is known yet, otherwise
// one block per URL, its state first (80 columns unless a URL, issuer or
// error is long):
//
//	CRL distribution points:
//	  OK       http://crl.example.net/root.crl
//	           CRL 12 (3 revoked) of C=CH, O=alixsec, CN=alixsec root CA
//	           fetched 3m ago, next fetch in 52m, next-update in 57m
//	  FAILING  http://10.99.0.9/inter.crl
//	           no CRL yet, never fetched, next fetch in 4m
//	           3 failures, last 1m ago: dial tcp 10.99.0.9:80: connect: connection refused
func FormatCRLs(w io.Writer, st CRLFetch, now time.Time) error {
	var b strings.Builder
	switch {
	case !st.Enabled:
		fmt.Fprintf(&b, "%s: CRL fetching is off (set ipsec crl-fetch on)\n", CRLTitle)
		st.URLs = nil
	case len(st.URLs) == 0:
		fmt.Fprintf(&b, "%s: CRL fetching is on, no distribution point seen yet\n", CRLTitle)
	default:
		fmt.Fprintf(&b, "%s:\n", CRLTitle)
	}
	const indent = "           "
	for _, u := range st.URLs {
		fmt.Fprintf(&b, "  %-7s  %s\n", strings.ToUpper(u.State()), u.URL)
		var fetch []string
		if u.Issuer != "" || u.Number != "" {
			crl := "CRL"
			if u.Number != "" {
				crl += " " + u.Number
			}
			crl += fmt.Sprintf(" (%d revoked)", u.Revoked)
			if u.Issuer != "" {
				crl += " of " + u.Issuer
			}
			fmt.Fprintf(&b, "%s%s\n", indent, crl)
		} else {
			fetch = append(fetch, "no CRL yet")
		}
		if u.LastSuccess.IsZero() {
			fetch = append(fetch, "never fetched")
		} else {
			fetch = append(fetch, "fetched "+ago(now, u.LastSuccess))
		}
		switch {
		case u.Fetching:
			fetch = append(fetch, "fetching now")
		case u.NextFetch.IsZero():
			fetch = append(fetch, "no fetch scheduled")
		case !u.NextFetch.After(now):
			fetch = append(fetch, "next fetch due")
		default:
			fetch = append(fetch, "next fetch in "+shortDuration(u.NextFetch.Sub(now)))
		}
		switch {
		case u.NextUpdate.IsZero():
		case u.NextUpdate.After(now):
			fetch = append(fetch, "next-update in "+shortDuration(u.NextUpdate.Sub(now)))
		default:
			fetch = append(fetch, "CRL expired "+ago(now, u.NextUpdate))
		}
		fmt.Fprintf(&b, "%s%s\n", indent, strings.Join(fetch, ", "))
		if u.State() == crlfetch.StateFailing {
			failures := "1 failure"
			if u.Failures != 1 {
				failures = fmt.Sprintf("%d failures", u.Failures)
			}
			msg := u.LastError
			if msg == "" {
				msg = "(no message)"
			}
			when := ""
			if !u.LastErrorAt.IsZero() {
				when = " " + ago(now, u.LastErrorAt)
			}
			fmt.Fprintf(&b, "%s%s, last%s: %s\n", indent, failures, when, msg)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ago is "3m ago" for t before now ("just now" within a second).
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	return shortDuration(d) + " ago"
}

// shortDuration writes d in at most two units, rounded down: 42s, 3m12s,
// 2h10m, 3d4h.
func shortDuration(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	const day = 24 * time.Hour
	s := func(a time.Duration, ua string, b time.Duration, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return s(d/time.Minute, "m", d%time.Minute/time.Second, "s")
	case d < day:
		return s(d/time.Hour, "h", d%time.Hour/time.Minute, "m")
	default:
		return s(d/day, "d", d%day/time.Hour, "h")
	}
}
