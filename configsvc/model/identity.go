package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// dnAttributes are the RDN attribute names an identity DN may use (the
// ones strongSwan knows by name).
var dnAttributes = []string{"C", "ST", "L", "O", "OU", "CN", "E", "emailAddress", "serialNumber", "DC", "UID", "SN", "GN", "T", "N", "dnQualifier", "pseudonym"}

// RDN is one attribute=value pair of a distinguished name.
type RDN struct{ Attr, Value string }

// ParseDN splits "C=CH, O=Example, CN=gw1" into its RDNs. Commas inside
// values are written as "\,". wildcard allows "*" in values (patterns).
func ParseDN(s string, wildcard bool) ([]RDN, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case c == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	rdns := make([]RDN, 0, len(parts))
	for _, p := range parts {
		attr, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		attr, val = strings.TrimSpace(attr), strings.TrimSpace(val)
		if !ok || attr == "" || val == "" {
			return nil, fmt.Errorf("RDN %q is not attr=value", strings.TrimSpace(p))
		}
		known := false
		for _, a := range dnAttributes {
			if strings.EqualFold(a, attr) {
				attr, known = a, true
				break
			}
		}
		if !known {
			return nil, fmt.Errorf("unknown DN attribute %q (known: %s)", attr, strings.Join(dnAttributes, " "))
		}
		if !wildcard && strings.Contains(val, "*") {
			return nil, fmt.Errorf("wildcard in %s=%s: use remote-id-pattern for patterns", attr, val)
		}
		for _, r := range val {
			if r < 0x20 || r == 0x7f || r == 0xfffd {
				return nil, fmt.Errorf("control character in %s value", attr)
			}
		}
		rdns = append(rdns, RDN{attr, val})
	}
	return rdns, nil
}

func formatDN(rdns []RDN) string {
	parts := make([]string, len(rdns))
	for i, r := range rdns {
		parts[i] = r.Attr + "=" + r.Value
	}
	return strings.Join(parts, ", ")
}

// MatchDN reports whether dn matches pattern: same attributes in the same
// order, and each value equal or matched by a glob where * matches any run
// of characters.
func MatchDN(pattern, dn string) bool {
	p, err := ParseDN(pattern, true)
	if err != nil {
		return false
	}
	d, err := ParseDN(dn, false)
	if err != nil || len(p) != len(d) {
		return false
	}
	for i := range p {
		if p[i].Attr != d[i].Attr || !globMatch(p[i].Value, d[i].Value) {
			return false
		}
	}
	return true
}

func globMatch(pat, s string) bool {
	star := strings.IndexByte(pat, '*')
	if star < 0 {
		return pat == s
	}
	if !strings.HasPrefix(s, pat[:star]) {
		return false
	}
	rest := pat[star+1:]
	for i := star; i <= len(s); i++ {
		if globMatch(rest, s[i:]) {
			return true
		}
	}
	return false
}

func canonIdentity(s string) (string, error) {
	if len(s) == 0 || len(s) > 512 {
		return "", fmt.Errorf("empty or too long")
	}
	if strings.Contains(s, "=") {
		rdns, err := ParseDN(s, false)
		if err != nil {
			return "", err
		}
		return formatDN(rdns), nil
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
	rdns, err := ParseDN(s, true)
	if err != nil {
		return "", err
	}
	return formatDN(rdns), nil
}
