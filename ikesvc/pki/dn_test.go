package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"reflect"
	"testing"
)

func TestParseDN(t *testing.T) {
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	c := asn1.ObjectIdentifier{2, 5, 4, 6}
	o := asn1.ObjectIdentifier{2, 5, 4, 10}
	ou := asn1.ObjectIdentifier{2, 5, 4, 11}
	atv := func(oid asn1.ObjectIdentifier, v any) []pkix.AttributeTypeAndValue {
		return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
	}
	cases := []struct {
		in      string
		want    pkix.RDNSequence
		printed string // FormatDN of the result; "" means in
	}{
		{"C=JP, O=Example, CN=gw1.example.net", pkix.RDNSequence{atv(c, "JP"), atv(o, "Example"), atv(cn, "gw1.example.net")}, ""},
		{"c=JP,o=Example,cn=gw1", pkix.RDNSequence{atv(c, "JP"), atv(o, "Example"), atv(cn, "gw1")}, "C=JP, O=Example, CN=gw1"},
		{"/C=JP/O=Example, Inc./CN=gw1", pkix.RDNSequence{atv(c, "JP"), atv(o, "Example, Inc."), atv(cn, "gw1")}, `C=JP, O=Example\, Inc., CN=gw1`},
		{`O="Example, Inc.", CN=a\+b`, pkix.RDNSequence{atv(o, "Example, Inc."), atv(cn, "a+b")}, `O=Example\, Inc., CN=a\+b`},
		{`CN=caf\C3\A9`, pkix.RDNSequence{atv(cn, "café")}, "CN=café"},
		{"OU=a+CN=b", pkix.RDNSequence{{{Type: ou, Value: "a"}, {Type: cn, Value: "b"}}}, ""},
		{"CN=  spaced out  ", pkix.RDNSequence{atv(cn, "spaced out")}, "CN=spaced out"},
		{`CN=\ lead`, pkix.RDNSequence{atv(cn, " lead")}, ""},
		{"2.5.4.3=x", pkix.RDNSequence{atv(cn, "x")}, "CN=x"},
		{"1.2.3.4=#0c0178", pkix.RDNSequence{atv(asn1.ObjectIdentifier{1, 2, 3, 4}, asn1.RawValue{Class: 0, Tag: 12, Bytes: []byte("x"), FullBytes: []byte{0x0c, 0x01, 0x78}})}, ""},
		{"E=admin@example.net", pkix.RDNSequence{atv(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, "admin@example.net")}, ""},
		{`CN=\*`, pkix.RDNSequence{atv(cn, "*")}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDN(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseDN = %#v\nwant %#v", got, tc.want)
			}
			printed := tc.printed
			if printed == "" {
				printed = tc.in
			}
			if s := FormatDN(got); s != printed {
				t.Fatalf("FormatDN = %q, want %q", s, printed)
			}
			der, err := MarshalDN(got)
			if err != nil {
				t.Fatal(err)
			}
			back, err := UnmarshalDN(der)
			if err != nil {
				t.Fatal(err)
			}
			if !EqualDN(back, got) {
				t.Fatalf("DER round trip: %v != %v", FormatDN(back), FormatDN(got))
			}
		})
	}
}

func TestParseDNErrors(t *testing.T) {
	for _, in := range []string{
		"", "   ", "CN", "CN=", "XX=foo", "C=JP,", "C=JP, , CN=x", `CN="open`, `CN="a"b`, `CN=a"b`,
		`CN=bad\escape`, `CN=\`, "1=x", "2.5.4.03=x", "CN=#zz", "CN=#0c01", `CN=\FF`,
	} {
		t.Run(in, func(t *testing.T) {
			if dn, err := ParseDN(in); !errors.Is(err, ErrBadDN) {
				t.Fatalf("ParseDN(%q) = %v, %v; want ErrBadDN", in, dn, err)
			}
		})
	}
}

// A DN string must produce the same DER as crypto/x509 writes for the same
// pkix.Name, so an ID_DER_ASN1_DN built from configuration text matches the
// subject of a certificate made by Go (and by OpenSSL, which also picks
// PrintableString where it fits).
func TestMarshalDNMatchesX509(t *testing.T) {
	p := newTestPKI(t, false)
	dn, err := ParseDN("C=JP, O=Example, CN=gw1.example.net")
	if err != nil {
		t.Fatal(err)
	}
	der, err := MarshalDN(dn)
	if err != nil {
		t.Fatal(err)
	}
	if string(der) != string(p.leaf.cert.RawSubject) {
		t.Fatalf("DER %x, certificate subject %x", der, p.leaf.cert.RawSubject)
	}
	name := pkix.Name{Country: []string{"JP"}, Organization: []string{"Example"}, CommonName: "gw1.example.net"}
	goDER, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	if string(goDER) != string(der) {
		t.Fatalf("pkix.Name DER %x, ours %x", goDER, der)
	}
}

func TestDNPattern(t *testing.T) {
	cases := []struct {
		pattern, dn string
		want        bool
	}{
		{"C=JP, O=Example, CN=*", "C=JP, O=Example, CN=gw1.example.net", true},
		{"C=JP, O=Example, CN=*", "c=jp, o=EXAMPLE, cn=gw2", true},
		{"C=JP, O=*, CN=*", "C=JP, O=Other, CN=gw2", true},
		{"C=JP, O=Example, CN=*", "C=JP, O=Other, CN=gw1", false},
		{"C=JP, O=Example, CN=*", "C=JP, O=Example, OU=Lab, CN=gw1", false},
		{"C=JP, O=Example, CN=*", "C=JP, O=Example", false},
		{"C=JP, O=Example, CN=*", "C=JP, CN=Example, O=gw1", false},
		{`C=JP, O=Example, CN=\*`, "C=JP, O=Example, CN=gw1", false},
		{`C=JP, O=Example, CN=\*`, `C=JP, O=Example, CN=\*`, true},
		{"C=JP, O=Example, CN=gw1", "C=JP, O=Example, CN=gw1", true},
	}
	for _, tc := range cases {
		t.Run(tc.pattern+" ~ "+tc.dn, func(t *testing.T) {
			p, err := ParseDNPattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			dn, err := ParseDN(tc.dn)
			if err != nil {
				t.Fatal(err)
			}
			der, err := MarshalDN(dn)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(dn); got != tc.want {
				t.Fatalf("Match = %v", got)
			}
			if got := p.MatchDER(der); got != tc.want {
				t.Fatalf("MatchDER = %v", got)
			}
		})
	}
}

func TestDNStringOfCertificate(t *testing.T) {
	p := newTestPKI(t, false)
	if got := DNString(p.inter.cert.RawSubject); got != "C=JP, O=Example, CN=Example Intermediate CA" {
		t.Fatalf("DNString = %q", got)
	}
	var _ *x509.Certificate = p.inter.cert
	if got := DNString([]byte{1, 2}); got != "#0102" {
		t.Fatalf("DNString of garbage = %q", got)
	}
}

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{
		"C=JP, O=Example, CN=gw1.example.net", "/C=JP/O=Ex/CN=a", `O="a, b"+OU=c, CN=\2C`,
		"1.2.3=#0500", "CN=*", `CN=\ x\ `, "E=a@b", `CN="\""`, "CN=a\x00b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dn, err := ParseDN(s)
		if err != nil {
			return
		}
		printed := FormatDN(dn)
		again, err := ParseDN(printed)
		if err != nil {
			t.Fatalf("ParseDN(FormatDN(ParseDN(%q))) = ParseDN(%q): %v", s, printed, err)
		}
		if !reflect.DeepEqual(dn, again) {
			t.Fatalf("round trip of %q through %q: %#v != %#v", s, printed, dn, again)
		}
		der, err := MarshalDN(dn)
		if err != nil {
			return // e.g. a '#' value that is valid DER but not encodable in a set
		}
		back, err := UnmarshalDN(der)
		if err != nil {
			t.Fatalf("UnmarshalDN(MarshalDN(%q)): %v", printed, err)
		}
		if !EqualDN(dn, back) {
			t.Fatalf("DER round trip of %q gave %q", printed, FormatDN(back))
		}
		if _, err := ParseDNPattern(s); err != nil {
			t.Fatalf("ParseDNPattern(%q) failed where ParseDN succeeded: %v", s, err)
		}
	})
}
