package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// IDType is the ID Type of an IKEv2 identification payload (RFC 7296 3.5).
type IDType uint8

// IKEv2 ID types (IANA "IKEv2 Identification Payload ID Types").
const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDERASN1DN  IDType = 9
	IDDERASN1GN  IDType = 10
	IDKeyID      IDType = 11
)

func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822Addr:
		return "ID_RFC822_ADDR"
	case IDIPv6Addr:
		return "ID_IPV6_ADDR"
	case IDDERASN1DN:
		return "ID_DER_ASN1_DN"
	case IDDERASN1GN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	}
	return fmt.Sprintf("ID_TYPE_%d", uint8(t))
}

// Identity is the content of an IKEv2 IDi/IDr payload: its type and its
// identification data exactly as carried on the wire.
type Identity struct {
	Type IDType
	Data []byte
}

// ErrIdentityMismatch is wrapped when an identity is not bound to a
// certificate or does not fit a peer matcher.
var ErrIdentityMismatch = errors.New("identity not bound to certificate")

// String prints the identity the way ParseIdentity reads it.
func (id Identity) String() string {
	switch id.Type {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case IDFQDN:
		return "fqdn:" + string(id.Data)
	case IDRFC822Addr:
		return "email:" + string(id.Data)
	case IDDERASN1DN:
		return DNString(id.Data)
	}
	return fmt.Sprintf("%v:%x", id.Type, id.Data)
}

// Equal compares two identities; DNs compare by EqualDN, FQDNs and e-mail
// addresses without regard to case.
func (id Identity) Equal(o Identity) bool {
	if id.Type != o.Type {
		return false
	}
	switch id.Type {
	case IDDERASN1DN:
		a, err1 := UnmarshalDN(id.Data)
		b, err2 := UnmarshalDN(o.Data)
		return err1 == nil && err2 == nil && EqualDN(a, b)
	case IDFQDN, IDRFC822Addr:
		return strings.EqualFold(string(id.Data), string(o.Data))
	}
	return bytes.Equal(id.Data, o.Data)
}

// ParseIdentity reads an identity from configuration text:
//
//	192.0.2.1, 2001:db8::1          ID_IPV4_ADDR, ID_IPV6_ADDR
//	gw1.example.net, fqdn:gw1        ID_FQDN
//	admin@example.net, email:...     ID_RFC822_ADDR
//	C=JP, O=Example, CN=gw1, asn1dn:... ID_DER_ASN1_DN
//
// A string holding '=' is a DN; one holding '@' is an e-mail address.
func ParseIdentity(s string) (Identity, error) {
	s = strings.TrimSpace(s)
	prefix, rest, hasPrefix := strings.Cut(s, ":")
	if hasPrefix {
		switch strings.ToLower(prefix) {
		case "fqdn":
			return fqdnIdentity(s, rest)
		case "email", "rfc822":
			if rest == "" {
				return Identity{}, fmt.Errorf("identity %q: empty e-mail address", s)
			}
			return Identity{Type: IDRFC822Addr, Data: []byte(rest)}, nil
		case "asn1dn", "dn":
			return dnIdentity(rest)
		}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Is4() {
			return Identity{Type: IDIPv4Addr, Data: a.AsSlice()}, nil
		}
		if a.Zone() == "" && !a.Is4In6() {
			return Identity{Type: IDIPv6Addr, Data: a.AsSlice()}, nil
		}
		return Identity{}, fmt.Errorf("identity %q: address with zone or mapped IPv4", s)
	}
	switch {
	case strings.Contains(s, "="):
		return dnIdentity(s)
	case strings.Contains(s, "@"):
		return Identity{Type: IDRFC822Addr, Data: []byte(s)}, nil
	}
	return fqdnIdentity(s, s)
}

func fqdnIdentity(orig, name string) (Identity, error) {
	if name == "" || strings.ContainsAny(name, " \t,/=@") {
		return Identity{}, fmt.Errorf("identity %q: not a host name", orig)
	}
	return Identity{Type: IDFQDN, Data: []byte(name)}, nil
}

func dnIdentity(s string) (Identity, error) {
	dn, err := ParseDN(s)
	if err != nil {
		return Identity{}, fmt.Errorf("identity: %w", err)
	}
	der, err := MarshalDN(dn)
	if err != nil {
		return Identity{}, fmt.Errorf("identity: %w", err)
	}
	return Identity{Type: IDDERASN1DN, Data: der}, nil
}

// CertificateIdentity returns the ID_DER_ASN1_DN identity of a certificate's
// subject, the identity a host sends when configured with none.
func CertificateIdentity(cert *x509.Certificate) Identity {
	return Identity{Type: IDDERASN1DN, Data: cert.RawSubject}
}

// CheckIdentity reports whether id is bound to cert (RFC 7296 3.5 and RFC
// 4945 3.1): a DN must equal the subject, an FQDN must be a subjectAltName
// dNSName, an address a subjectAltName iPAddress, an e-mail address a
// subjectAltName rfc822Name. The error wraps ErrIdentityMismatch.
func CheckIdentity(cert *x509.Certificate, id Identity) error {
	ok := false
	switch id.Type {
	case IDDERASN1DN:
		ok = id.Equal(CertificateIdentity(cert))
	case IDFQDN:
		for _, name := range cert.DNSNames {
			ok = ok || strings.EqualFold(name, string(id.Data))
		}
	case IDRFC822Addr:
		for _, email := range cert.EmailAddresses {
			ok = ok || strings.EqualFold(email, string(id.Data))
		}
	case IDIPv4Addr, IDIPv6Addr:
		want, valid := netip.AddrFromSlice(id.Data)
		if !valid || (id.Type == IDIPv4Addr) != want.Is4() {
			return fmt.Errorf("%w: malformed %v", ErrIdentityMismatch, id.Type)
		}
		for _, ip := range cert.IPAddresses {
			got, _ := netip.AddrFromSlice(ip)
			ok = ok || got.Unmap() == want
		}
	default:
		return fmt.Errorf("%w: %v identities are not supported with certificates", ErrIdentityMismatch, id.Type)
	}
	if !ok {
		return fmt.Errorf("%w: %s is not in certificate %q", ErrIdentityMismatch, id, FormatDN(cert.Subject.ToRDNSequence()))
	}
	return nil
}

// PeerMatcher decides whether an authenticated peer is the one a config
// entry names. Build it with ParsePeerMatcher.
type PeerMatcher struct {
	any     bool
	exact   Identity
	pattern *DNPattern
}

// ParsePeerMatcher reads the remote identity of a peer config entry:
//   - "%any" admits every peer whose chain verifies;
//   - a DN with "*" values (C=JP, O=Example, CN=*) is a DN pattern matched
//     against the peer's ID_DER_ASN1_DN, or against its certificate subject
//     when it sent another ID type;
//   - anything else is an exact identity as ParseIdentity reads it, which
//     the peer's ID payload must equal or its certificate must contain.
func ParsePeerMatcher(s string) (PeerMatcher, error) {
	s = strings.TrimSpace(s)
	if s == "%any" {
		return PeerMatcher{any: true}, nil
	}
	prefix, rest, hasPrefix := strings.Cut(s, ":")
	prefix = strings.ToLower(prefix)
	isDN := strings.Contains(s, "=") && (!hasPrefix || !(prefix == "fqdn" || prefix == "email" || prefix == "rfc822"))
	if isDN {
		body := s
		if hasPrefix && (prefix == "asn1dn" || prefix == "dn") {
			body = rest
		}
		p, err := ParseDNPattern(body)
		if err != nil {
			return PeerMatcher{}, fmt.Errorf("peer identity: %w", err)
		}
		if p.HasWildcard() {
			return PeerMatcher{pattern: &p}, nil
		}
	}
	id, err := ParseIdentity(s)
	if err != nil {
		return PeerMatcher{}, fmt.Errorf("peer identity: %w", err)
	}
	return PeerMatcher{exact: id}, nil
}

// ExactIdentity returns the identity an exact matcher wants, so an initiator
// can send it as IDr; ok is false for patterns and %any.
func (m PeerMatcher) ExactIdentity() (Identity, bool) {
	return m.exact, !m.any && m.pattern == nil
}

// Match reports whether the peer that sent id and proved possession of leaf
// (whose chain verified and to which id is bound, see CheckIdentity) is
// admitted. The error, wrapping ErrIdentityMismatch, says why not.
func (m PeerMatcher) Match(id Identity, leaf *x509.Certificate) error {
	switch {
	case m.any:
		return nil
	case m.pattern != nil:
		subject := leaf.RawSubject
		if id.Type == IDDERASN1DN {
			subject = id.Data
		}
		if m.pattern.MatchDER(subject) {
			return nil
		}
		return fmt.Errorf("%w: %s does not match %s", ErrIdentityMismatch, DNString(subject), m.pattern)
	}
	if id.Equal(m.exact) {
		return nil
	}
	if leaf != nil && CheckIdentity(leaf, m.exact) == nil {
		return nil
	}
	return fmt.Errorf("%w: peer %s is not %s", ErrIdentityMismatch, id, m.exact)
}

// String prints the matcher as ParsePeerMatcher reads it.
func (m PeerMatcher) String() string {
	switch {
	case m.any:
		return "%any"
	case m.pattern != nil:
		return m.pattern.String()
	}
	return m.exact.String()
}
