// Package pkiwatch finds PKI material in a configuration that is about to
// expire, so that init can log a warning well before IKE starts failing.
package pkiwatch

import (
	"fmt"
	"math"
	"sort"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/pki"
)

// WarnBefore is how long before expiry a warning is due.
const WarnBefore = 30 * 24 * time.Hour

// Expiring returns one message per pki certificate, ca-certificate or CRL
// of cfg that expires (certificates: notAfter; CRLs: nextUpdate) before
// now+within, including those already expired, and per entry that does not
// parse. A CRL counts only once past the middle of its thisUpdate..
// nextUpdate period, since CRLs are short-lived by design. Messages are in config order (kind, then name), e.g.
//
//	pki certificate gw1: "CN=gw1" expires 2027-01-01 (in 12 days)
func Expiring(cfg *model.Config, now time.Time, within time.Duration) []string {
	if cfg == nil {
		return nil
	}
	var out []string
	certs := func(kind string, m map[string]string) {
		for _, name := range sortedNames(m) {
			list, err := pki.ParseCertificates([]byte(m[name]))
			if err != nil {
				out = append(out, fmt.Sprintf("pki %s %s: does not parse: %v", kind, name, err))
				continue
			}
			for _, c := range list {
				if msg, due := deadline(c.NotAfter, now, within, "expires", "expired"); due {
					out = append(out, fmt.Sprintf("pki %s %s: %q %s", kind, name, pki.DNString(c.RawSubject), msg))
				}
			}
		}
	}
	certs("certificate", cfg.PKI.Certificates)
	certs("ca-certificate", cfg.PKI.CACertificates)
	for _, name := range sortedNames(cfg.PKI.CRLs) {
		crl, err := pki.ParseCRL([]byte(cfg.PKI.CRLs[name]))
		if err != nil {
			out = append(out, fmt.Sprintf("pki crl %s: does not parse: %v", name, err))
			continue
		}
		if crl.NextUpdate.IsZero() {
			continue
		}
		// A CRL is replaced every few days by design, so it is near
		// expiry only in the second half of its own period too: a weekly
		// CRL does not warn every day of the week.
		if half := crl.NextUpdate.Sub(crl.ThisUpdate) / 2; half > 0 && crl.NextUpdate.Sub(now) > half {
			continue
		}
		if msg, due := deadline(crl.NextUpdate, now, within, "next update due", "out of date since"); due {
			out = append(out, fmt.Sprintf("pki crl %s: CRL of %q %s", name, pki.DNString(crl.RawIssuer), msg))
		}
	}
	return out
}

// deadline says whether t falls before now+within and words it.
func deadline(t, now time.Time, within time.Duration, future, past string) (string, bool) {
	left := t.Sub(now)
	if left > within {
		return "", false
	}
	day := t.UTC().Format("2006-01-02 15:04 UTC")
	if left < 0 {
		return fmt.Sprintf("%s %s", past, day), true
	}
	return fmt.Sprintf("%s %s (in %d days)", future, day, DaysLeft(t, now)), true
}

// DaysLeft is the number of whole days from now until t (negative when t
// has passed), as show pki prints it.
func DaysLeft(t, now time.Time) int {
	return int(math.Floor(t.Sub(now).Hours() / 24))
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
