package model

import (
	"crypto/x509/pkix"
	"fmt"
	"net/netip"
	"strings"

	"alixsec.dev/ikesvc/pki"
)

// DNs are parsed by ikesvc/pki, the code that later matches them against
// certificates, so that the config never accepts a DN or pattern that
// ikesvc reads differently.

// canonDN checks a DN identity and returns its canonical form.
func canonDN(s string) (string, error) {
	dn, err := pki.ParseDN(s)
	if err != nil {
		return "", err
	}
	if err := checkStars(dn, false); err != nil {
		return "", err
	}
	return pki.FormatDN(dn), nil
}

// checkStars refuses "*" in DN values: in an identity (wildcard false) at
// all, in a pattern unless it is a whole value, the only wildcard ikesvc
// knows ("CN=*"; "CN=*.example.net" would match only that literal text).
func checkStars(dn pkix.RDNSequence, wildcard bool) error {
	for _, rdn := range dn {
		for _, atv := range rdn {
			v, ok := atv.Value.(string)
			if !ok || !strings.Contains(v, "*") || (wildcard && v == "*") {
				continue
			}
			rdnText := strings.ReplaceAll(pki.FormatDN(pkix.RDNSequence{{atv}}), `\*`, "*")
			if !wildcard {
				return fmt.Errorf("wildcard in %s: use remote-id-pattern for patterns", rdnText)
			}
			return fmt.Errorf("%s: a wildcard stands for a whole value (write CN=*, not CN=*.example.net)", rdnText)
		}
	}
	return nil
}

func canonIdentity(s string) (string, error) {
	if len(s) == 0 || len(s) > 512 {
		return "", fmt.Errorf("empty or too long")
	}
	if strings.Contains(s, "=") {
		return canonDN(s)
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.String(), nil
	}
	host := s
	if user, h, ok := strings.Cut(s, "@"); ok {
		if user != "" {
			for _, c := range []byte(user) {
				if c <= ' ' || c == 0x7f || c == '"' {
					return "", fmt.Errorf("bad character in %q", user)
				}
			}
		}
		host = h
	}
	if _, err := canonHostname(host); err != nil {
		return "", fmt.Errorf("%q is not a DN, address, FQDN or user@fqdn", s)
	}
	return s, nil
}

func canonDNPattern(s string) (string, error) {
	if len(s) == 0 || len(s) > 512 {
		return "", fmt.Errorf("empty or too long")
	}
	p, err := pki.ParseDNPattern(s)
	if err != nil {
		return "", err
	}
	dn, err := pki.ParseDN(s)
	if err != nil {
		return "", err
	}
	if err := checkStars(dn, true); err != nil {
		return "", err
	}
	return p.String(), nil
}
