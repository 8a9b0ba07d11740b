package interop

import (
	"strings"
	"testing"
)

// rawInitiator is charon 5.9.8's `swanctl --list-sas --raw` on the
// initiator of a host-to-host libipsec tunnel, copied from a run.
const rawInitiator = `list-sa event {c {uniqueid=1 version=2 state=ESTABLISHED local-host=10.77.0.1 local-port=4500 local-id=C=CH, O=alixsec interop, CN=moon remote-host=10.77.0.2 remote-port=4500 remote-id=C=CH, O=alixsec interop, CN=sun initiator=yes initiator-spi=a9cf8e829882b74e responder-spi=db5c4dc6849fe3fb nat-remote=yes nat-any=yes encr-alg=AES_CBC encr-keysize=128 integ-alg=HMAC_SHA2_256_128 prf-alg=PRF_HMAC_SHA2_256 dh-group=CURVE_25519 established=0 rekey-time=13421 child-sas {c-1 {name=c uniqueid=1 reqid=1 state=INSTALLED mode=TUNNEL protocol=ESP encap=yes spi-in=29cdf84c spi-out=ad7dcf7f encr-alg=AES_CBC encr-keysize=128 integ-alg=HMAC_SHA2_256_128 bytes-in=0 packets-in=0 bytes-out=84 packets-out=1 rekey-time=3373 life-time=3960 install-time=0 local-ts=[10.77.0.1/32] remote-ts=[10.77.0.2/32]}}}}
list-sas reply {}
`

func TestParseListSAs(t *testing.T) {
	sas, err := ParseListSAs(rawInitiator)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 1 || len(sas[0].Children) != 1 {
		t.Fatalf("got %d SAs: %s", len(sas), FormatSAs(sas))
	}
	sa, c := sas[0], sas[0].Children[0]
	checks := []struct{ what, got, want string }{
		{"name", sa.Name, "c"},
		{"state", sa.State, "ESTABLISHED"},
		{"local-id", sa.LocalID, "C=CH, O=alixsec interop, CN=moon"},
		{"remote-id", sa.RemoteID, "C=CH, O=alixsec interop, CN=sun"},
		{"remote-host", sa.RemoteHost, "10.77.0.2"},
		{"initiator-spi", sa.InitiatorSPI, "a9cf8e829882b74e"},
		{"dh-group", sa.DHGroup, "CURVE_25519"},
		{"child name", c.Name, "c"},
		{"child state", c.State, "INSTALLED"},
		{"mode", c.Mode, "TUNNEL"},
		{"spi-in", c.SPIIn, "29cdf84c"},
		{"spi-out", c.SPIOut, "ad7dcf7f"},
		{"local-ts", strings.Join(c.LocalTS, ","), "10.77.0.1/32"},
		{"remote-ts", strings.Join(c.RemoteTS, ","), "10.77.0.2/32"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if !sa.Initiator || !sa.NATRemote || !sa.NATAny || sa.NATLocal || !c.Encap {
		t.Errorf("flags: initiator %v nat-remote %v nat-any %v nat-local %v encap %v", sa.Initiator, sa.NATRemote, sa.NATAny, sa.NATLocal, c.Encap)
	}
	if sa.LocalPort != 4500 || sa.EncrKeysize != 128 || c.BytesOut != 84 || c.PacketsOut != 1 {
		t.Errorf("numbers: port %d keysize %d bytes-out %d packets-out %d", sa.LocalPort, sa.EncrKeysize, c.BytesOut, c.PacketsOut)
	}
	if _, _, err := CheckTunnel(sas, Expect{"10.77.0.1", "10.77.0.2", sa.LocalID, sa.RemoteID}); err != nil {
		t.Errorf("CheckTunnel: %v", err)
	}
	if _, _, err := CheckTunnel(sas, Expect{"10.77.0.1", "10.77.0.2", sa.LocalID, "C=CH, O=x, CN=sun"}); err == nil || !strings.Contains(err.Error(), "remote-id") {
		t.Errorf("CheckTunnel with a wrong remote id: err = %v, want a remote-id complaint", err)
	}
}

func TestParseListSAsShapes(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantSAs int
		wantErr string
	}{
		{"no SAs", "list-sas reply {}\n", 0, ""},
		{"empty", "", 0, ""},
		{"two IKE_SAs in one event", "list-sa event {a {state=CONNECTING} b {state=ESTABLISHED child-sas {}}}", 2, ""},
		{"value before closing brace", "list-sa event {a {local-id=CN=x, O=y z}}", 1, ""},
		{"unterminated", "list-sa event {a {state=ESTABLISHED", 0, "unterminated"},
		{"unterminated list", "list-sa event {a {local-ts=[10.0.0.1/32}}", 0, "unterminated list"},
		{"trailing text", "list-sa event {a {}} x", 0, "trailing"},
		{"no brace", "list-sa event a", 0, "want '{'"},
		{"too deep", "list-sa event " + strings.Repeat("{a ", 20) + strings.Repeat("}", 20), 0, "deeper"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sas, err := ParseListSAs(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sas) != c.wantSAs {
				t.Fatalf("got %d SAs, want %d", len(sas), c.wantSAs)
			}
		})
	}
	sas, _ := ParseListSAs("list-sa event {a {local-id=CN=x, O=y z}}")
	if got := sas[0].LocalID; got != "CN=x, O=y z" {
		t.Errorf("DN with blanks before '}': %q", got)
	}
}

// FuzzParseListSAs: no input makes the parser panic or loop.
func FuzzParseListSAs(f *testing.F) {
	f.Add(rawInitiator)
	f.Add("list-sa event {a {b=[x y] c {d=e}}}")
	f.Add("list-sa event {")
	f.Fuzz(func(t *testing.T, in string) {
		sas, err := ParseListSAs(in)
		if err == nil {
			_ = FormatSAs(sas)
		}
	})
}

func TestSwanctlConf(t *testing.T) {
	text, err := SwanctlConf(Conn{
		Name: "t", LocalAddr: "fd77::1", RemoteAddr: "fd77::2", LocalCert: "moon.crt",
		LocalID: "C=CH, O=alixsec interop, CN=moon", RemoteID: HostPattern, Revocation: "strict",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\t\tlocal_addrs = fd77::1\n",
		"\t\tremote_addrs = fd77::2\n",
		"\t\t\tid = \"C=CH, O=alixsec interop, CN=moon\"\n",
		"\t\t\tid = \"C=CH, O=alixsec interop, CN=*\"\n",
		"\t\t\trevocation = strict\n",
		"\t\t\t\tmode = tunnel\n",
		"\t\t\t\tlocal_ts = dynamic\n",
		"\t\t\t\tstart_action = none\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, text)
		}
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, ";") {
			t.Errorf("line %q has a ';' (strongSwan drops what follows)", l)
		}
	}
	for _, bad := range []Conn{{Name: "a b", LocalCert: "x", LocalID: "y"}, {Name: "a"}} {
		if _, err := SwanctlConf(bad); err == nil {
			t.Errorf("SwanctlConf(%+v) succeeded, want an error", bad)
		}
	}
}

func TestKeySubdir(t *testing.T) {
	cases := []struct{ pem, want string }{
		{"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n", "private"},
		{"-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n", "rsa"},
		{"-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n", "ecdsa"},
		{"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", ""},
		{"junk", ""},
	}
	for _, c := range cases {
		got, err := keySubdir([]byte(c.pem))
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("keySubdir(%.30q) = %q, %v; want %q", c.pem, got, err, c.want)
		}
	}
}

func TestLeftoverPID(t *testing.T) {
	cases := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"aix1234xbeefa", 1234, true},
		{"aix1234", 0, false},
		{"aixx12", 0, false},
		{"other1234x00a", 0, false},
		{"aix0x00a", 0, false},
	}
	for _, c := range cases {
		pid, ok := leftoverPID(c.name)
		if pid != c.pid || ok != c.ok {
			t.Errorf("leftoverPID(%q) = %d, %v; want %d, %v", c.name, pid, ok, c.pid, c.ok)
		}
	}
}

func TestBuildError(t *testing.T) {
	err := errorString("go build -o /tmp/x ./ikesvc: exit status 1: no Go files in /work/main/ikesvc")
	if got := buildError(err); got != "no Go files in /work/main/ikesvc" {
		t.Errorf("buildError = %q", got)
	}
	err = errorString("go build -o x ./ikesvc: exit status 1: # alixsec/ikesvc\nikesvc/main.go:3:2: undefined: foo\n")
	if got := buildError(err); got != "ikesvc/main.go:3:2: undefined: foo" {
		t.Errorf("buildError = %q", got)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
