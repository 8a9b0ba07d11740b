package model

import (
	"errors"
	"strings"
	"testing"

	"alixsec.dev/ikesvc/pki"
)

func TestSetRejectsBadValues(t *testing.T) {
	tests := []struct {
		line string
		want string // exact error text
	}{
		{"interfaces eth0 mtu 70000", "interfaces eth0 mtu 70000: must be 576..9000"},
		{"interfaces eth0 mtu abc", "interfaces eth0 mtu abc: must be 576..9000"},
		{"interfaces eth0 address 10.99.0.1", "interfaces eth0 address 10.99.0.1: must be an IPv4 or IPv6 address with prefix length, e.g. 10.99.0.1/24"},
		{"interfaces eth0-too-long-name address 10.0.0.1/8", "interfaces eth0-too-long-name: must be an interface name of 1..15 letters, digits, '.', '-' or '_'"},
		{"system hostname -bad", "system hostname -bad: must be a host name: letters, digits and '-', dot-separated labels of 1..63 characters"},
		{"system colour red", "system colour: unknown word: expected one of hostname, time-zone, ntp-server, syslog-host, console, ssh, description"},
		{"system", "system: incomplete: expected one of hostname, time-zone, ntp-server, syslog-host, console, ssh, description"},
		{"system hostname", "system hostname: missing value: must be a host name: letters, digits and '-', dot-separated labels of 1..63 characters"},
		{"system hostname a b", "system hostname b: unexpected word after the value a (quote values that contain blanks)"},
		{"system console speed 1200", "system console speed 1200: must be one of 9600, 19200, 38400, 57600, 115200"},
		{"ipsec peer gw2 mode bus", "ipsec peer gw2 mode bus: must be one of transport, tunnel"},
		{"ipsec peer gw2 local-ts 10.1.0.5/24", "ipsec peer gw2 local-ts 10.1.0.5/24: must be a network prefix with host bits zero, e.g. 10.1.0.0/24: host bits set, did you mean 10.1.0.0/24?"},
		{"ipsec ike-proposal aes128-md5-modp2048", `ipsec ike-proposal aes128-md5-modp2048: must be an IKE proposal such as aes128-sha256-modp2048 or aes256gcm16-prfsha256-ecp256: unknown keyword "md5"`},
		{"ipsec ike-proposal aes128-sha256", "ipsec ike-proposal aes128-sha256: must be an IKE proposal such as aes128-sha256-modp2048 or aes256gcm16-prfsha256-ecp256: no DH group"},
		{"ipsec ike-proposal aes256gcm16-ecp256", "ipsec ike-proposal aes256gcm16-ecp256: must be an IKE proposal such as aes128-sha256-modp2048 or aes256gcm16-prfsha256-ecp256: AEAD needs a prf (e.g. prfsha256)"},
		{"ipsec esp-proposal aes128gcm16-sha256", "ipsec esp-proposal aes128gcm16-sha256: must be an ESP proposal such as aes128-sha256-modp2048 or aes128gcm16-ecp256-esn: AEAD encryption takes no integrity algorithm"},
		{"ipsec esp-proposal aes128-prfsha256-sha1", "ipsec esp-proposal aes128-prfsha256-sha1: must be an ESP proposal such as aes128-sha256-modp2048 or aes128gcm16-ecp256-esn: prf belongs to IKE proposals"},
		{`ipsec peer gw2 remote-id "C=CH, XX=y"`, `ipsec peer gw2 remote-id "C=CH, XX=y": must be an identity: a DN such as "C=CH, O=Example, CN=gw1", a FQDN, user@fqdn or an IP address: bad DN "C=CH, XX=y": unknown attribute type "XX"`},
		{`ipsec peer gw2 remote-id "CN=*"`, `ipsec peer gw2 remote-id CN=*: must be an identity: a DN such as "C=CH, O=Example, CN=gw1", a FQDN, user@fqdn or an IP address: wildcard in CN=*: use remote-id-pattern for patterns`},
		{"pki key k1 notpem", "pki key k1 notpem: must be one PEM private key (PKCS#8, PKCS#1 or SEC1): no PEM block found"},
		{"pki crl c1 \"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n\"", `pki crl c1 "-----BEGIN X509 CRL-----\nAAAA\n-----END X50...: must be one PEM X.509 CRL: CRL does not parse: x509: malformed crl`},
		{"routes 10.0.0.1/8 next-hop 10.0.0.1", "routes 10.0.0.1/8: must be a network prefix with host bits zero, e.g. 10.1.0.0/16 or 0.0.0.0/0: host bits set, did you mean 10.0.0.0/8?"},
		{"system syslog-host host:99999", `system syslog-host host:99999: must be a host name or IP address, optionally with :port (IPv6 as [addr]:port): port "99999" is not 1..65535`},
		{"ipsec peer gw2 reauth-time 10", "ipsec peer gw2 reauth-time 10: must be 0 (off) or 60..86400"},
		{"ipsec reauth-time off", "ipsec reauth-time off: must be 0 (off) or 60..86400"},
		{"ipsec ike-rekey-time 0", "ipsec ike-rekey-time 0: must be 60..86400"},
		{"ipsec peer gw2 dpd-action hold", "ipsec peer gw2 dpd-action hold: must be one of clear, restart, trap"},
		{"bogus", "bogus: unknown word: expected one of system, interfaces, routes, ipsec, pki"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			words, err := SplitWords(tt.line)
			if err != nil {
				t.Fatalf("SplitWords: %v", err)
			}
			c := &Config{}
			err = c.Set(words)
			if err == nil {
				t.Fatalf("Set(%q) succeeded, want error %q", tt.line, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Set(%q) error\n got %q\nwant %q", tt.line, err, tt.want)
			}
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Errorf("error is %T, want *PathError", err)
			}
		})
	}
}

func TestSetCanonicalises(t *testing.T) {
	tests := []struct{ in, want string }{
		{"interfaces eth0 address 2001:DB8::1/64", "interfaces eth0 address 2001:db8::1/64"},
		{`ipsec local-id "c=CH,o=alixsec ,  cn=gw1"`, `ipsec local-id "C=CH, O=alixsec, CN=gw1"`},
		{"ipsec ike-proposal AES128-SHA256-MODP2048", "ipsec ike-proposal aes128-sha256-modp2048"},
		{"system syslog-host [fd00::1]:1514", "system syslog-host [fd00::1]:1514"},
		{"ipsec crl-fetch on", "ipsec crl-fetch on"},
		{"interfaces eth3", "interfaces eth3"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := &Config{}
			w, _ := SplitWords(tt.in)
			if err := c.Set(w); err != nil {
				t.Fatal(err)
			}
			l := c.Lines()
			if len(l) != 1 || JoinWords(l[0]) != tt.want {
				t.Errorf("Lines() = %q, want [%q]", l, tt.want)
			}
		})
	}
}

func TestLeafListKeepsOrderAndDeletesOne(t *testing.T) {
	c := &Config{}
	for _, p := range []string{"aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048", "aes256gcm16-prfsha256-ecp256"} {
		if err := c.Set([]string{"ipsec", "ike-proposal", p}); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.IPsec.IKEProposals; len(got) != 2 || got[0] != "aes256gcm16-prfsha256-ecp256" {
		t.Fatalf("IKEProposals = %q, want two in first-set order", got)
	}
	if err := c.Delete([]string{"ipsec", "ike-proposal", "aes256gcm16-prfsha256-ecp256"}); err != nil {
		t.Fatal(err)
	}
	if got := c.IPsec.IKEProposals; len(got) != 1 || got[0] != "aes128-sha256-modp2048" {
		t.Fatalf("after delete IKEProposals = %q", got)
	}
}

func TestDelete(t *testing.T) {
	base := func() *Config {
		c := &Config{}
		for _, l := range []string{"system hostname gw1", "interfaces eth0 address 10.0.0.1/24", "interfaces eth0 mtu 1400", "interfaces eth1 mtu 1400"} {
			w, _ := SplitWords(l)
			if err := c.Set(w); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	tests := []struct {
		del     string
		wantErr string
		left    int // lines left
	}{
		{"system hostname", "", 3},
		{"system hostname gw1", "", 3},
		{"system hostname gw2", "system hostname gw2: not set", 4},
		{"interfaces eth0", "", 2},
		{"interfaces eth0 mtu", "", 3},
		{"interfaces eth9", "interfaces eth9: not set", 4},
		{"interfaces", "", 1},
		{"system time-zone", "system time-zone: not set", 4},
		{"", "delete what? expected one of system, interfaces, routes, ipsec, pki", 4},
	}
	for _, tt := range tests {
		t.Run(tt.del, func(t *testing.T) {
			c := base()
			w, _ := SplitWords(tt.del)
			err := c.Delete(w)
			if got := errString(err); got != tt.wantErr {
				t.Errorf("Delete(%q) error %q, want %q", tt.del, got, tt.wantErr)
			}
			if n := len(c.Lines()); n != tt.left {
				t.Errorf("after Delete(%q): %d lines %q, want %d", tt.del, n, c.Lines(), tt.left)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestComplete(t *testing.T) {
	c := &Config{}
	_ = c.Set([]string{"interfaces", "eth0", "mtu", "1500"})
	words := func(cs []Choice) string {
		var w []string
		for _, c := range cs {
			w = append(w, c.Word)
		}
		return strings.Join(w, " ")
	}
	tests := []struct {
		words   string
		partial string
		del     bool
		want    string
	}{
		{"", "", false, "system interfaces routes ipsec pki"},
		{"", "i", false, "interfaces ipsec"},
		{"interfaces", "", false, "eth0 <ifname>"},
		{"interfaces eth0", "", false, "<Enter> description address mtu"},
		{"interfaces eth0 mtu", "", false, "1500 <bytes>"},
		{"interfaces eth0 mtu 1500", "", false, "<Enter>"},
		{"ipsec peer p mode", "", false, "transport tunnel"},
		{"ipsec peer p mode", "tu", false, "tunnel"},
		{"system", "", true, "<Enter> hostname time-zone ntp-server syslog-host console ssh description"},
		{"nonsense", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.words+"|"+tt.partial, func(t *testing.T) {
			w, _ := SplitWords(tt.words)
			if got := words(Complete(c, w, tt.partial, tt.del)); got != tt.want {
				t.Errorf("Complete(%q, %q) = %q, want %q", tt.words, tt.partial, got, tt.want)
			}
		})
	}
}

// TestDNPatternsMeanWhatIkesvcDoes: a pattern the config accepts, in its
// canonical form, matches in ikesvc/pki exactly the DNs the admin meant;
// what ikesvc would read differently is refused.
func TestDNPatternsMeanWhatIkesvcDoes(t *testing.T) {
	tests := []struct {
		pattern   string
		canonical string // "" when refused
		errText   string
		dn        string
		matches   bool
	}{
		{pattern: "C=CH, O=alixsec, CN=*", canonical: "C=CH, O=alixsec, CN=*", dn: "C=CH, O=alixsec, CN=gw2", matches: true},
		{pattern: "c=CH,o=alixsec,cn=*", canonical: "C=CH, O=alixsec, CN=*", dn: "C=CH, O=alixsec, CN=gw2", matches: true},
		{pattern: "C=CH, O=alixsec, CN=*", canonical: "C=CH, O=alixsec, CN=*", dn: "C=CH, O=other, CN=gw2", matches: false},
		{pattern: "C=CH, CN=*", canonical: "C=CH, CN=*", dn: "C=CH, O=alixsec, CN=gw2", matches: false},
		{pattern: "2.5.4.6=CH, CN=*", canonical: "C=CH, CN=*", dn: "C=CH, CN=gw2", matches: true},
		{pattern: "C=CH, O=alixsec, CN=gw*", errText: "a wildcard stands for a whole value"},
		{pattern: "CN=*.example.net", errText: "a wildcard stands for a whole value"},
		{pattern: "C=CH, XX=y", errText: "XX"},
		{pattern: "C=CH, CN", errText: "bad DN"},
	}
	for _, tt := range tests {
		got, err := canonDNPattern(tt.pattern)
		if tt.canonical == "" {
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("canonDNPattern(%q) = %q, %v; want an error with %q", tt.pattern, got, err, tt.errText)
			}
			continue
		}
		if err != nil || got != tt.canonical {
			t.Errorf("canonDNPattern(%q) = %q, %v; want %q", tt.pattern, got, err, tt.canonical)
			continue
		}
		p, err := pki.ParseDNPattern(got)
		if err != nil {
			t.Fatalf("ikesvc cannot parse the canonical pattern %q: %v", got, err)
		}
		dn, err := pki.ParseDN(tt.dn)
		if err != nil {
			t.Fatal(err)
		}
		if p.Match(dn) != tt.matches {
			t.Errorf("pattern %q on %q: match %v, want %v", got, tt.dn, !tt.matches, tt.matches)
		}
	}
}

func TestDefault(t *testing.T) {
	c, err := Default("qemu")
	if err != nil {
		t.Fatal(err)
	}
	if c.System.Hostname != "alixsec" || len(c.Interfaces["eth0"].Addresses) != 1 || c.Interfaces["eth0"].Addresses[0].String() != "10.99.0.1/24" {
		t.Errorf("qemu default = %q", c.Lines())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("default does not validate: %v", err)
	}
	a, _ := Default("alix")
	if a.Interfaces != nil {
		t.Errorf("alix default has interfaces %v", a.Interfaces)
	}
	if _, err := Default("pdp11"); err == nil {
		t.Error("Default(pdp11) succeeded")
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", `q"uo\te`, "line1\nline2\r\t", "#hash", "x#y", "\x00\x7f\xff", "grüezi", "'single'"} {
		w, err := SplitWords("set " + Quote(s))
		if err != nil || len(w) != 2 || w[1] != s {
			t.Errorf("Quote(%q) = %s reads back as %q, %v", s, Quote(s), w, err)
		}
	}
}

func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{`set a "b c" 'd'`, `"\x41\n"`, "# c", `"unterminated`, `a"b"c`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := SplitWords(line)
		if err != nil {
			return
		}
		again, err := SplitWords(JoinWords(words))
		if err != nil {
			t.Fatalf("JoinWords(%q) does not split: %v", words, err)
		}
		if len(again) != len(words) {
			t.Fatalf("round trip %q -> %q", words, again)
		}
		for i := range words {
			if again[i] != words[i] {
				t.Fatalf("round trip %q -> %q", words, again)
			}
		}
	})
}
