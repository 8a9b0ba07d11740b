package pki

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseIdentity(t *testing.T) {
	cases := []struct {
		in       string
		wantType IDType
		wantStr  string
	}{
		{"192.0.2.1", IDIPv4Addr, "192.0.2.1"},
		{"2001:db8::1", IDIPv6Addr, "2001:db8::1"},
		{"gw1.example.net", IDFQDN, "fqdn:gw1.example.net"},
		{"fqdn:gw1", IDFQDN, "fqdn:gw1"},
		{"admin@example.net", IDRFC822Addr, "email:admin@example.net"},
		{"email:admin@example.net", IDRFC822Addr, "email:admin@example.net"},
		{"C=JP, O=Example, CN=gw1.example.net", IDDERASN1DN, "C=JP, O=Example, CN=gw1.example.net"},
		{"asn1dn:/C=JP/CN=gw1", IDDERASN1DN, "C=JP, CN=gw1"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			id, err := ParseIdentity(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if id.Type != c.wantType || id.String() != c.wantStr {
				t.Fatalf("got %v %q", id.Type, id.String())
			}
			again, err := ParseIdentity(id.String())
			if err != nil || !again.Equal(id) {
				t.Fatalf("String round trip: %v, %v", again, err)
			}
		})
	}
	for _, bad := range []string{"", "fqdn:", "email:", "C=JP, XX=1", "fe80::1%eth0", "two words"} {
		if id, err := ParseIdentity(bad); err == nil {
			t.Errorf("ParseIdentity(%q) = %v, want error", bad, id)
		}
	}
}

func TestCheckIdentity(t *testing.T) {
	p := newTestPKI(t, false)
	leaf := p.leaf.cert // CN=gw1.example.net, SAN DNS gw1.example.net, IP 192.0.2.1 and 2001:db8::1, email admin@example.net
	mustID := func(s string) Identity {
		id, err := ParseIdentity(s)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	v4 := netip.MustParseAddr("192.0.2.1").As4()
	cases := []struct {
		name string
		id   Identity
		ok   bool
	}{
		{"DN equals subject", mustID("C=JP, O=Example, CN=gw1.example.net"), true},
		{"DN differs in case only", mustID("c=jp, o=example, cn=GW1.example.net"), true},
		{"DN of another host", mustID("C=JP, O=Example, CN=gw2.example.net"), false},
		{"DN with extra RDN", mustID("C=JP, O=Example, OU=x, CN=gw1.example.net"), false},
		{"FQDN in SAN", mustID("gw1.example.net"), true},
		{"FQDN in SAN, upper case", mustID("GW1.EXAMPLE.NET"), true},
		{"FQDN not in SAN", mustID("gw2.example.net"), false},
		{"IPv4 in SAN", Identity{Type: IDIPv4Addr, Data: v4[:]}, true},
		{"IPv4 not in SAN", mustID("192.0.2.2"), false},
		{"IPv6 in SAN", mustID("2001:db8::1"), true},
		{"IPv6 not in SAN", mustID("2001:db8::2"), false},
		{"IPv4 bytes labelled IPv6", Identity{Type: IDIPv6Addr, Data: v4[:]}, false},
		{"email in SAN", mustID("admin@example.net"), true},
		{"email not in SAN", mustID("root@example.net"), false},
		{"key ID unsupported", Identity{Type: IDKeyID, Data: []byte("k")}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckIdentity(leaf, c.id)
			if c.ok && err != nil {
				t.Fatal(err)
			}
			if !c.ok && !errors.Is(err, ErrIdentityMismatch) {
				t.Fatalf("CheckIdentity = %v, want ErrIdentityMismatch", err)
			}
		})
	}
}

func TestPeerMatcher(t *testing.T) {
	p := newTestPKI(t, false)
	gw1 := p.leaf.cert
	gw1DN := CertificateIdentity(gw1)
	gw1FQDN := Identity{Type: IDFQDN, Data: []byte("gw1.example.net")}
	orphanDN := CertificateIdentity(p.orphan.cert) // C=JP, O=Example, CN=gw9 of another CA: the pattern admits the name, Verify refuses the CA
	interDN := CertificateIdentity(p.inter.cert)
	cases := []struct {
		matcher string
		id      Identity
		ok      bool
	}{
		{"C=JP, O=Example, CN=*", gw1DN, true},
		{"C=JP, O=Example, CN=*", gw1FQDN, true}, // FQDN ID: pattern applies to the certificate subject
		{"C=JP, O=Example, CN=*", orphanDN, true},
		{"C=JP, O=Example, CN=*", interDN, true},
		{"C=JP, O=Other, CN=*", gw1DN, false},
		{"C=JP, O=Example, OU=*, CN=*", gw1DN, false},
		{"C=JP, O=Example, CN=gw1.example.net", gw1DN, true},
		{"C=JP, O=Example, CN=gw2.example.net", gw1DN, false},
		{"gw1.example.net", gw1FQDN, true},
		{"gw1.example.net", gw1DN, true}, // DN ID, but the certificate holds the FQDN
		{"gw2.example.net", gw1FQDN, false},
		{"192.0.2.1", gw1DN, true},
		{"%any", orphanDN, true},
	}
	for _, c := range cases {
		t.Run(c.matcher+" ~ "+c.id.String(), func(t *testing.T) {
			m, err := ParsePeerMatcher(c.matcher)
			if err != nil {
				t.Fatal(err)
			}
			err = m.Match(c.id, gw1)
			if c.ok && err != nil {
				t.Fatal(err)
			}
			if !c.ok && !errors.Is(err, ErrIdentityMismatch) {
				t.Fatalf("Match = %v, want ErrIdentityMismatch", err)
			}
		})
	}
	m, err := ParsePeerMatcher("C=JP, O=Example, CN=*")
	if err != nil {
		t.Fatal(err)
	}
	if _, exact := m.ExactIdentity(); exact || m.String() != "C=JP, O=Example, CN=*" {
		t.Fatalf("pattern matcher: exact=%v string %q", exact, m)
	}
	if _, err := ParsePeerMatcher("C=JP, XX=*"); err == nil {
		t.Fatal("bad pattern accepted")
	}
}
