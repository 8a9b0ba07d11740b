package settext

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"alixsec.dev/configsvc/internal/testpki"
	"alixsec.dev/configsvc/model"
)

func readExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/example-gw1.set")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExportImportIsIdentity(t *testing.T) {
	example := readExample(t)
	c, err := Load(bytes.NewReader(example))
	if err != nil {
		t.Fatalf("example does not load: %v", err)
	}
	out := Format(c)
	if !bytes.Equal(out, example) {
		t.Errorf("Format(Parse(example)) differs from example:\n%s", DiffText(DiffLines(strings.Split(string(example), "\n"), strings.Split(string(out), "\n"))))
	}
	c2, err := Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Equal(c2) || !bytes.Equal(Format(c2), out) {
		t.Error("Parse(Format(c)) != c")
	}
	if c2.IPsec.Peers["gw2"].Address.String() != "10.99.0.2" || !strings.HasPrefix(c2.PKI.Keys["gw1-key"], "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("typed fields not filled: %+v", c2.IPsec.Peers["gw2"])
	}
}

func TestFormatIsSortedAndStable(t *testing.T) {
	in := "set interfaces eth1 mtu 1400\nset system hostname b\nset interfaces eth0 mtu 1500\n# comment\n\nset interfaces eth2\n"
	c, err := ParseString(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "set system hostname b\nset interfaces eth0 mtu 1500\nset interfaces eth1 mtu 1400\nset interfaces eth2\n"
	for i := 0; i < 3; i++ {
		if got := string(Format(c)); got != want {
			t.Fatalf("Format =\n%s\nwant\n%s", got, want)
		}
	}
}

func TestParseErrorsHaveLineNumbers(t *testing.T) {
	in := "set system hostname ok\n\nset interfaces eth0 mtu 70000\ndelete system\nset system hostname \"open\n"
	_, err := ParseString(in)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	want := []string{
		"line 3: interfaces eth0 mtu 70000: must be 576..9000",
		`line 4: unknown command "delete": only set lines are allowed`,
		"line 5: column 21: unterminated double quote",
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestValidateTable(t *testing.T) {
	p, err := testpki.New("gw1", "other")
	if err != nil {
		t.Fatal(err)
	}
	pki := "set ipsec key k\nset ipsec certificate c\nset ipsec ca-certificate ca\nset ipsec local-id gw1.example\n" +
		"set pki key k " + model.Quote(p.Keys["gw1"]) + "\n" +
		"set pki certificate c " + model.Quote(p.Certs["gw1"]) + "\n" +
		"set pki ca-certificate ca " + model.Quote(p.CA) + "\n"
	peer := "set ipsec peer gw2 address 10.99.0.2\nset ipsec peer gw2 remote-id gw2.example\nset ipsec peer gw2 mode transport\n"
	tests := []struct {
		name, in, want string
	}{
		{"valid", pki + peer, ""},
		{"dangling key", "set ipsec key nokey\nset ipsec certificate c\nset pki certificate c " + model.Quote(p.Certs["gw1"]),
			"ipsec key nokey: no such entry in pki key; defined: (none)"},
		{"key without cert", "set ipsec key k\nset pki key k " + model.Quote(p.Keys["gw1"]), "ipsec: key and certificate must be set together"},
		{"key mismatch", strings.Replace(pki, model.Quote(p.Keys["gw1"]), model.Quote(p.Keys["other"]), 1) + peer,
			"ipsec certificate c: does not match key k: public keys differ"},
		{"both ids", pki + peer + "set ipsec peer gw2 remote-id-pattern \"CN=*\"\n", "ipsec peer gw2: set either remote-id or remote-id-pattern, not both"},
		{"no id", pki + "set ipsec peer gw2 address 10.99.0.2\nset ipsec peer gw2 mode transport\n", "ipsec peer gw2: needs remote-id or remote-id-pattern"},
		{"tunnel without ts", pki + peer + "set ipsec peer gw2 mode tunnel\n", "ipsec peer gw2: tunnel mode needs local-ts and remote-ts"},
		{"start without address", pki + "set ipsec peer rw remote-id rw.example\nset ipsec peer rw mode transport\nset ipsec peer rw start-action start\n",
			"ipsec peer rw address: needed to initiate (start-action start); use start-action none to only respond"},
		{"reauth not above ike-rekey", pki + peer + "set ipsec reauth-time 3600\n",
			"ipsec peer gw2: reauth-time 3600 must be greater than ike-rekey-time 14400 (a reauthentication replaces the IKE SA, so it would never be rekeyed): raise reauth-time, lower ike-rekey-time or set reauth-time 0"},
		{"reauth above the peer's ike-rekey", pki + peer + "set ipsec reauth-time 3600\nset ipsec peer gw2 ike-rekey-time 1800\n", ""},
		{"peer turns reauth off", pki + peer + "set ipsec reauth-time 3600\nset ipsec peer gw2 reauth-time 0\n", ""},
		{"global ike-rekey below global reauth", pki + peer + "set ipsec reauth-time 86400\nset ipsec ike-rekey-time 3600\n", ""},
		{"dpd-action restart without address", pki + "set ipsec peer rw remote-id rw.example\nset ipsec peer rw mode transport\nset ipsec peer rw start-action none\nset ipsec peer rw dpd-action restart\n",
			"ipsec peer rw address: needed to initiate again (dpd-action restart); use dpd-action clear to only respond"},
		{"strict without crl", pki + "set ipsec crl-mode strict\n", "ipsec crl-mode strict: strict needs a crl or crl-fetch on"},
		{"v6 small mtu", "set interfaces eth0 address fd00::1/64\nset interfaces eth0 mtu 1000\n", "interfaces eth0 mtu 1000: must be at least 1280 with an IPv6 address (fd00::1/64)"},
		{"route family", "set routes 10.0.0.0/8 next-hop fd00::1\n", "routes 10.0.0.0/8 next-hop fd00::1: must be of the same address family as 10.0.0.0/8"},
		{"route nowhere", "set routes 10.0.0.0/8\n", "routes 10.0.0.0/8: needs next-hop or interface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseString(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a, _ := ParseString("set system hostname a\nset interfaces eth0 address 10.0.0.1/24\nset interfaces eth0 mtu 1500\n")
	b, _ := ParseString("set system hostname b\nset interfaces eth0 address 10.0.0.1/24\nset interfaces eth1 mtu 1500\n")
	want := "- set system hostname a\n+ set system hostname b\n- set interfaces eth0 mtu 1500\n+ set interfaces eth1 mtu 1500\n"
	if got := DiffText(Diff(a, b)); got != want {
		t.Errorf("Diff =\n%s\nwant\n%s", got, want)
	}
	if got := DiffText(Diff(a, a)); got != "no changes\n" {
		t.Errorf("Diff(a, a) = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(readExample(f)))
	f.Add("set system hostname gw1\nset interfaces eth0 address 10.99.0.1/24\n")
	f.Add("set ipsec peer \"a b\" address ::1\nset pki key x \"\\x00\"")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseString(in)
		if err != nil {
			return
		}
		out := Format(c)
		c2, err := Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, out)
		}
		if out2 := Format(c2); !bytes.Equal(out, out2) {
			t.Fatalf("export/import not identity:\n%s\n---\n%s", out, out2)
		}
	})
}

// TestSchemaExample checks that SCHEMA.md's complete example is the
// testdata file and that it loads (parses and validates).
func TestSchemaExample(t *testing.T) {
	doc, err := os.ReadFile("../SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- BEGIN EXAMPLE -->\n```\n")
	example, _, ok2 := strings.Cut(rest, "```\n<!-- END EXAMPLE -->")
	if !ok || !ok2 {
		t.Fatal("SCHEMA.md lacks the example markers")
	}
	if example != string(readExample(t)) {
		t.Error("SCHEMA.md example differs from testdata/example-gw1.set")
	}
	c, err := Load(strings.NewReader(example))
	if err != nil {
		t.Fatalf("SCHEMA.md example does not load: %v", err)
	}
	if len(c.IPsec.Peers) != 2 {
		t.Errorf("example has %d peers, want 2", len(c.IPsec.Peers))
	}
}
