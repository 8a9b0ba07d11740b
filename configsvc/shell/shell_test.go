package shell

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/internal/testserver"
	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/ike"
)

type fixture struct {
	srv     *testserver.Server
	sh      *Shell
	out     *bytes.Buffer
	signals []syscall.Signal
	env     Env
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: testserver.Start(t, "qemu"), out: &bytes.Buffer{}}
	c, err := api.Dial(f.srv.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dir := t.TempDir()
	f.env = Env{
		Client:     c,
		IKESocket:  filepath.Join(dir, "ikesvc.sock"),
		LogSocket:  filepath.Join(dir, "log.sock"),
		ProcRoot:   filepath.Join(dir, "proc"),
		Version:    "v1.2.3",
		SignalInit: func(s syscall.Signal) error { f.signals = append(f.signals, s); return nil },
		Sleep:      func(time.Duration) {},
		Timeout:    5 * time.Second,
	}
	f.sh = New(f.env, f.out)
	return f
}

// exec runs lines and returns what they printed.
func (f *fixture) exec(lines ...string) string {
	f.out.Reset()
	for _, l := range lines {
		f.sh.Exec(l)
	}
	return f.out.String()
}

func TestOneLineErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		conf bool
		line string
		want string
	}{
		{false, "frobnicate", `% unknown command "frobnicate": valid here: show, request, clear, pki, ping, configure, start, reboot, poweroff, exit` + "\n"},
		{false, "show", "% show: incomplete: expected one of configuration, history, interfaces, ipsec, log, pki, system, version\n"},
		{false, "show ipsec bogus", `% show ipsec: unknown command "bogus": valid here: sa, kernel` + "\n"},
		{false, "show version now", `% show version: unexpected "now": takes no arguments` + "\n"},
		{false, "s", `% ambiguous command "s": could be show, start` + "\n"},
		{false, "sh", "% show: incomplete: expected one of configuration, history, interfaces, ipsec, log, pki, system, version\n"},
		{false, "start shell", "% start shell is not available here\n"},
		{false, "ping", "% usage: ping <address> [count <1-65535>] [interval <10-10000 ms>]\n"},
		{false, "ping 127.0.0.1 count", "% usage: ping <address> [count <1-65535>] [interval <10-10000 ms>]\n"},
		{false, "ping 127.0.0.1 count 0", `% ping count "0": must be 1..65535` + "\n"},
		{false, "ping 127.0.0.1 count 70000", `% ping count "70000": must be 1..65535` + "\n"},
		{false, "ping 127.0.0.1 interval 5", `% ping interval "5": must be 10..10000 milliseconds` + "\n"},
		{false, "ping 127.0.0.1 size 100", "% usage: ping <address> [count <1-65535>] [interval <10-10000 ms>]\n"},
		{false, "request ipsec rekey", "% usage: request ipsec rekey <peer> [child|ike|reauth]\n"},
		{false, "request ipsec rekey gw2 everything", "% usage: request ipsec rekey <peer> [child|ike|reauth]\n"},
		{false, `show "unterminated`, "% column 6: unterminated double quote\n"},
		{false, "show configuration bogus", "% bogus: unknown word: expected one of system, interfaces, routes, ipsec, pki\n"},
		{true, "set interfaces eth0 mtu 70000", "% interfaces eth0 mtu 70000: must be 576..9000\n"},
		{true, "set system hostname", "% system hostname: missing value: must be a host name: letters, digits and '-', dot-separated labels of 1..63 characters\n"},
		{true, "set", "% set what? expected one of system, interfaces, routes, ipsec, pki\n"},
		{true, "rollback x", `% revision "x": must be a revision number (see show history)` + "\n"},
		{true, "s", `% ambiguous command "s": could be set, show` + "\n"},
		{true, "configure", `% unknown command "configure": valid here: set, delete, show, compare, commit, discard, rollback, load, exit` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if tt.conf && f.sh.mode != modeConfiguration {
				f.exec("configure")
			}
			if got := f.exec(tt.line); got != tt.want {
				t.Errorf("%q printed\n%q\nwant\n%q", tt.line, got, tt.want)
			}
		})
	}
	// Unique prefixes abbreviate commands.
	f.exec("exit")
	if got := f.exec("sh ver"); !strings.HasPrefix(got, "alixsec v1.2.3 (go") {
		t.Errorf("sh ver = %q", got)
	}
}

func TestConfigureCommitRollbackCompare(t *testing.T) {
	f := newFixture(t)
	if p := f.sh.Prompt(); p != "alixsec> " {
		t.Fatalf("prompt %q", p)
	}
	out := f.exec("configure", "set system hostname bartest", "set interfaces eth0 address 10.99.0.5/24", "delete interfaces eth0 address 10.99.0.1/24", "compare")
	for _, want := range []string{"[edit] candidate from revision 1", "- set system hostname alixsec", "+ set system hostname bartest", "- set interfaces eth0 address 10.99.0.1/24", "+ set interfaces eth0 address 10.99.0.5/24"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if p := f.sh.Prompt(); p != "alixsec# " {
		t.Errorf("config prompt %q", p)
	}
	out = f.exec("commit first change", "exit")
	if !strings.Contains(out, "committed revision 2") || f.sh.Prompt() != "bartest> " {
		t.Fatalf("commit: %q, prompt %q", out, f.sh.Prompt())
	}
	out = f.exec("show configuration")
	if !strings.Contains(out, "set system hostname bartest\n") || !strings.Contains(out, "set interfaces eth0 address 10.99.0.5/24\n") || strings.Contains(out, "10.99.0.1/24") {
		t.Errorf("show configuration:\n%s", out)
	}
	out = f.exec("configure", "rollback 1", "commit rollback", "compare 2 3", "exit")
	if !strings.Contains(out, "committed revision 3") || !strings.Contains(out, "+ set interfaces eth0 address 10.99.0.1/24") {
		t.Errorf("rollback:\n%s", out)
	}
	if f.sh.Prompt() != "alixsec> " {
		t.Errorf("prompt after rollback %q", f.sh.Prompt())
	}
	out = f.exec("show history")
	if !strings.Contains(out, "*        3") || !strings.Contains(out, "first change") {
		t.Errorf("history:\n%s", out)
	}
	out = f.exec("show configuration interfaces")
	if !strings.HasSuffix(out, "set interfaces eth0 address 10.99.0.1/24\n") || strings.Contains(out, "hostname") {
		t.Errorf("show configuration interfaces:\n%s", out)
	}
}

func TestStaleCommitIsRefusedInCLI(t *testing.T) {
	f := newFixture(t)
	other := New(f.env, io.Discard)
	f.exec("configure", "set system hostname mine")
	other.Exec("configure")
	other.Exec("set system hostname theirs")
	other.Exec("commit")
	out := f.exec("commit")
	if !strings.Contains(out, "% commit refused: your candidate is based on revision 1, but revision 2 was committed meanwhile") {
		t.Errorf("stale commit printed %q", out)
	}
	out = f.exec("discard", "show system hostname")
	if !strings.Contains(out, "set system hostname theirs") {
		t.Errorf("after discard: %q", out)
	}
}

func TestHelpAndCompletion(t *testing.T) {
	f := newFixture(t)
	help := f.exec("show ?")
	if !strings.Contains(help, "  interfaces     network interfaces, addresses and counters\n") {
		t.Errorf("show ? =\n%s", help)
	}
	tests := []struct {
		conf         bool
		before, want string
	}{
		{false, "sh", "show "},
		{false, "show int", "show interfaces "},
		{false, "show ipsec s", "show ipsec sa "},
		{false, "show ipsec k", "show ipsec kernel "},
		{false, "request ipsec s", "request ipsec save-keys "},
		{false, "co", "configure "},
		{true, "set sys", "set system "},
		{true, "set system con", "set system console "},
		{true, "set interfaces e", "set interfaces eth0 "},
		{true, "set ipsec peer p mode tr", "set ipsec peer p mode transport "},
		{true, "set ipsec crl-m", "set ipsec crl-mode "},
		{true, "del", "delete "},
		{true, "c", "com"},
	}
	for _, tt := range tests {
		t.Run(tt.before, func(t *testing.T) {
			if tt.conf && f.sh.mode != modeConfiguration {
				f.exec("configure")
			}
			got, ok := f.sh.Complete(tt.before)
			if !ok || got != tt.want {
				t.Errorf("Complete(%q) = %q, %v; want %q", tt.before, got, ok, tt.want)
			}
		})
	}
	f.out.Reset()
	if _, ok := f.sh.Complete("com"); ok || f.out.String() != "compare  commit\n" {
		t.Errorf("ambiguous Tab listed %q", f.out.String())
	}
	help = f.exec("set interfaces eth0 mtu ?")
	if !strings.Contains(help, "<bytes>") || !strings.Contains(help, "576..9000") {
		t.Errorf("mtu help:\n%s", help)
	}
	help = f.exec("set ipsec peer gw2 ?")
	for _, w := range []string{"address", "remote-id-pattern", "start-action", "<Enter>"} {
		if !strings.Contains(help, w) {
			t.Errorf("peer help lacks %q:\n%s", w, help)
		}
	}
}

func TestPowerCommandsSignalInit(t *testing.T) {
	f := newFixture(t)
	out := f.exec("reboot", "poweroff")
	if out != "rebooting...\npowering off...\n" || len(f.signals) != 2 || f.signals[0] != syscall.SIGTERM || f.signals[1] != syscall.SIGUSR2 {
		t.Errorf("printed %q, signals %v", out, f.signals)
	}
}

// serveOnce answers one connection on a unix socket with reply, after
// reading the request line (if expectRequest).
func serveOnce(t *testing.T, path, reply string, expectRequest bool) <-chan string {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req := ""
		if expectRequest {
			b, _ := io.ReadAll(c)
			req = string(b)
		}
		io.WriteString(c, reply)
		got <- req
	}()
	return got
}

func TestStatusSockets(t *testing.T) {
	f := newFixture(t)
	if out := f.exec("show ipsec sa"); out != "ikesvc is not running\n" {
		t.Errorf("without ikesvc: %q", out)
	}
	if out := f.exec("show log"); !strings.Contains(out, "the log service is not running") {
		t.Errorf("without log socket: %q", out)
	}
	ike := &fakeIKE{sas: []control.IKESA{{Peer: "gw2", State: "ESTABLISHED", Local: "10.99.0.1:500", Remote: "10.99.0.2:500",
		SPIi: "0123456789abcdef", SPIr: "fedcba9876543210", Algorithm: "aes128gcm16-prfsha256-ecp256"}}}
	ln, err := control.Listen(f.env.IKESocket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go control.Serve(ctx, ln, ike, t.Logf)
	if out := f.exec("show ipsec sa"); !strings.Contains(out, "gw2") || !strings.Contains(out, "ESTABLISHED") {
		t.Errorf("show ipsec sa = %q", out)
	}
	if out := f.exec("clear ipsec sa gw2"); out != "terminate gw2: done\n" || ike.terminated != "gw2" {
		t.Errorf("clear ipsec sa gw2 = %q (terminated %q)", out, ike.terminated)
	}
	if out := f.exec("request ipsec initiate gw9"); !strings.Contains(out, "no such peer") {
		t.Errorf("initiate of an unknown peer = %q", out)
	}
	for _, line := range []string{"request ipsec rekey gw2", "request ipsec rekey gw2 ike", "request ipsec rekey gw2 reauth"} {
		if out := f.exec(line); !strings.HasSuffix(out, ": done\n") {
			t.Errorf("%s = %q", line, out)
		}
	}
	if got := strings.Join(ike.rekeyed, ","); got != "gw2 child,gw2 ike,gw2 reauth" {
		t.Errorf("ikesvc was asked to rekey %q", got)
	}
	out := f.exec("request ipsec save-keys")
	if want := "wrote the keys of 1 IKE SAs and 2 ESP SAs to /tmp/ikesvc-keys (/tmp/ikesvc-keys/ikev2_decryption_table, /tmp/ikesvc-keys/esp_sa)\n"; !strings.HasPrefix(out, want) || !ike.savedKeys {
		t.Errorf("request ipsec save-keys = %q, want it to start %q", out, want)
	}
	if help := f.exec("request ipsec ?"); !strings.Contains(help, "save-keys") || !strings.Contains(help, "never the CF") {
		t.Errorf("request ipsec ? lacks save-keys:\n%s", help)
	}
	if out := f.exec("request ipsec initiate gw2"); out != "initiate gw2: established IKE SA aes128gcm16-prfsha256-ecp256, CHILD_SA aes128gcm16-noesn\n" {
		t.Errorf("initiate gw2 = %q", out)
	}
	if out := f.exec("request ipsec initiate gw3"); !strings.Contains(out, "initiate gw3: failed: peer answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN") {
		t.Errorf("initiate gw3 (proposal mismatch) = %q", out)
	}
	serveOnce(t, f.env.LogSocket, "boot ok\nconfigsvc started\n", false)
	if out := f.exec("show log"); out != "boot ok\nconfigsvc started\n" {
		t.Errorf("show log = %q", out)
	}
}

func TestShowSystemAndInterfaces(t *testing.T) {
	f := newFixture(t)
	os.MkdirAll(f.env.ProcRoot, 0o755)
	os.WriteFile(filepath.Join(f.env.ProcRoot, "uptime"), []byte("3725.40 100.00\n"), 0o644)
	os.WriteFile(filepath.Join(f.env.ProcRoot, "meminfo"), []byte("MemTotal:  262144 kB\nMemFree: 1000 kB\nMemAvailable:  204800 kB\n"), 0o644)
	os.WriteFile(filepath.Join(f.env.ProcRoot, "loadavg"), []byte("0.10 0.20 0.30 1/50 99\n"), 0o644)
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "block", "sda"), 0o755)
	os.WriteFile(filepath.Join(sys, "block", "sda", "stat"), []byte("  120 0 4800 30 7 0 56 2 0 40 32 0 0 0 0\n"), 0o644)
	f.sh.env.SysRoot = sys
	out := f.exec("show system")
	want := "hostname:  alixsec\nuptime:    1h2m5s\nmemory:    256 MiB total, 200 MiB available\nload:      0.10 0.20 0.30\nrevision:  1, committed "
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "(factory default)\ndisk sda: 56 sectors written since boot\n") {
		t.Errorf("show system =\n%s\nwant prefix\n%s", out, want)
	}
	out = f.exec("show interfaces")
	if !strings.Contains(out, "\nlo ") || !strings.Contains(out, "127.0.0.1/8") {
		t.Errorf("show interfaces lacks lo:\n%s", out)
	}
}

func TestPingLoopback(t *testing.T) {
	tests := []struct {
		name string
		opts PingOptions
		want []string
	}{
		{"every 250 ms, each reply listed", PingOptions{Count: 2, Interval: 250 * time.Millisecond},
			[]string{"icmp_seq=2 time=", "2 packets transmitted, 2 received, 0% packet loss, 0 lost"}},
		{"every 10 ms, only losses listed", PingOptions{Count: 200, Interval: 10 * time.Millisecond, Uptime: time.Hour},
			[]string{"every 10ms, listing only losses", "200 packets transmitted, 200 received, 0% packet loss, 0 lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			err := pingEvery(ctx, &out, "127.0.0.1", tt.opts)
			if err != nil && strings.Contains(err.Error(), "opening raw ICMP socket") {
				t.Skipf("no raw sockets here: %v", err)
			}
			if err != nil {
				t.Fatalf("ping: %v\n%s", err, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tt.opts.Interval < quietBelow && strings.Contains(out.String(), "bytes from") {
				t.Errorf("quiet mode listed replies:\n%s", out.String())
			}
			// The requests go out on schedule, not one reply after another.
			if d, want := time.Since(start), time.Duration(tt.opts.Count-1)*tt.opts.Interval; d < want || d > want+2*time.Second {
				t.Errorf("ping took %v, want about %v", d, want)
			}
		})
	}
}

// TestPingStopLosesNothing: stopping the sending (kill -INT) still waits
// for the replies to what was sent.
func TestPingStopLosesNothing(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := pingEvery(ctx, &out, "127.0.0.1", PingOptions{Count: 1000, Interval: 10 * time.Millisecond})
	if err != nil && strings.Contains(err.Error(), "opening raw ICMP socket") {
		t.Skipf("no raw sockets here: %v", err)
	}
	var sent, received, lost int
	if _, scanErr := fmt.Sscanf(out.String()[strings.Index(out.String(), "statistics ---\n")+len("statistics ---\n"):],
		"%d packets transmitted, %d received, 0%% packet loss, %d lost", &sent, &received, &lost); err != nil || scanErr != nil {
		t.Fatalf("ping: %v, %v:\n%s", err, scanErr, out.String())
	}
	if sent < 10 || sent > 100 || received != sent || lost != 0 {
		t.Errorf("stopped after 300 ms: %d sent, %d received, %d lost:\n%s", sent, received, lost, out.String())
	}
}

// TestPingCountsLosses pings from a network namespace of its own, where
// nothing is up and so nothing answers: every request is accounted for as
// lost, each with its uptime stamp.
func TestPingCountsLosses(t *testing.T) {
	var out bytes.Buffer
	errc := make(chan error)
	go func() {
		// The thread enters the new namespace and dies with the
		// goroutine (never unlocked); the socket stays in it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errc <- pingEvery(ctx, &out, "192.0.2.1", PingOptions{Count: 5, Interval: 10 * time.Millisecond, Uptime: 100 * time.Second})
	}()
	err := <-errc
	if err != nil && (strings.Contains(err.Error(), "opening raw ICMP socket") || strings.Contains(err.Error(), "unshare")) {
		t.Skipf("needs root: %v", err)
	}
	if err == nil {
		t.Fatalf("ping in an empty namespace succeeded:\n%s", out.String())
	}
	for _, w := range []string{"[100.0", "] icmp_seq=1: no reply\n", "] icmp_seq=1-5: no reply (5 lost)\n", "5 packets transmitted, 0 received, 100% packet loss, 5 lost", "lost icmp_seq: 1-5"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

func TestSeqRanges(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{7}, "7"},
		{[]int{3, 4, 5, 9}, "3-5, 9"},
		{[]int{1, 3, 5, 6}, "1, 3, 5-6"},
	}
	for _, tt := range tests {
		if got := seqRanges(tt.in); got != tt.want {
			t.Errorf("seqRanges(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPasswordLogin(t *testing.T) {
	f := newFixture(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f.exec("configure", "set system console password-hash "+string(hash), "commit", "exit")
	tests := []struct {
		name, input string
		wantErr     bool
		want        string
	}{
		{"right", "s3cret\nshow version\n", false, "Password: alixsec> alixsec v1.2.3"},
		{"wrong then right", "nope\ns3cret\nexit\n", false, "Password: % wrong password\nPassword: alixsec> "},
		{"three wrong", "a\nb\nc\nshow version\n", true, "Password: % wrong password\nPassword: % wrong password\nPassword: % wrong password\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(f.env, strings.NewReader(tt.input), &out, false)
			if (err != nil) != tt.wantErr || !strings.HasPrefix(out.String(), tt.want) {
				t.Errorf("Run = %v, output %q; want prefix %q", err, out.String(), tt.want)
			}
		})
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"show interfaces", "sh conf system", `set system hostname "a b"`, "commit now ?", "ping ::1 count 3", "", "'"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, line string, conf bool) {
		cmds := operationalCommands()
		if conf {
			cmds = configCommands()
		}
		cmd, args, err := parseLine(cmds, line)
		if err != nil {
			if cmd != nil || strings.Contains(oneLine(err), "\n") {
				t.Fatalf("error %q with command %v", err, cmd)
			}
			return
		}
		if cmd == nil && len(args) > 0 {
			t.Fatalf("args %q without command", args)
		}
		if cmd != nil && cmd.run == nil {
			t.Fatalf("parseLine(%q) returned a command without run", line)
		}
	})
}

func TestInteractiveTerminal(t *testing.T) {
	f := newFixture(t)
	keys := "sh\tver\t\r" + // Tab completes "show " and "version "
		"show ?" + "\x15" + // ? lists subcommands; Ctrl-U clears the line
		"reboot\x03" + // Ctrl-C abandons the line and keeps the login
		"configure\r" + "set system hostname ttytest\r" + "commit\r" + "exit\r" +
		"\x1b[A\x1b[A\r" // history: Up twice is "commit", which fails in operational mode
	var out bytes.Buffer
	if err := Run(f.env, strings.NewReader(keys), &out, true); err != nil {
		t.Fatal(err)
	}
	if len(f.signals) != 0 {
		t.Errorf("abandoned reboot line sent %v", f.signals)
	}
	got := out.String()
	for _, want := range []string{
		"alixsec v1.2.3 (go",
		"alixsec> show ?\r\n",
		"  interfaces     network interfaces, addresses and counters\r\n",
		"committed revision 2\r\n",
		"ttytest> ",
		`% unknown command "commit": valid here: show, request, clear, pki, ping, configure, start, reboot, poweroff, exit`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, got)
		}
	}
}

func TestLoadFile(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.set")
	os.WriteFile(good, []byte("# exported\nset system hostname loaded\nset interfaces eth1 mtu 1400\n"), 0o644)
	bad := filepath.Join(dir, "bad.set")
	os.WriteFile(bad, []byte("set system hostname ok\nset interfaces eth1 mtu 1\n"), 0o644)
	out := f.exec("configure", "load "+bad, "load "+good, "compare", "commit", "exit")
	for _, want := range []string{
		"% load " + bad + ": line 2: interfaces eth1 mtu 1: must be 576..9000\n",
		"+ set system hostname loaded\n", "- set interfaces eth0 address 10.99.0.1/24\n", "committed revision 2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if f.sh.Prompt() != "loaded> " {
		t.Errorf("prompt %q", f.sh.Prompt())
	}
}

// fakeIKE stands in for ikesvc's engine behind a real control socket.
type fakeIKE struct {
	sas        []control.IKESA
	terminated string
	rekeyed    []string
	savedKeys  bool
}

func (f *fakeIKE) Rekey(peer string, kind ike.RekeyKind) error {
	f.rekeyed = append(f.rekeyed, peer+" "+string(kind))
	return nil
}

func (f *fakeIKE) SaveKeys() (control.SavedKeys, error) {
	f.savedKeys = true
	return control.SavedKeys{Dir: "/tmp/ikesvc-keys", Files: []string{"/tmp/ikesvc-keys/ikev2_decryption_table", "/tmp/ikesvc-keys/esp_sa"}, IKE: 1, ESP: 2}, nil
}

func (f *fakeIKE) Status(ctx context.Context) []control.IKESA { return f.sas }

func (f *fakeIKE) Initiate(peer string) error {
	if peer != "gw2" {
		return fmt.Errorf("no such peer %q", peer)
	}
	return nil
}

// InitiateWait answers gw2 established and gw3 with a proposal mismatch.
func (f *fakeIKE) InitiateWait(ctx context.Context, peer string) (control.Outcome, error) {
	switch peer {
	case "gw2":
		return control.Outcome{Peer: peer, IKE: "aes128gcm16-prfsha256-ecp256", Child: "aes128gcm16-noesn"}, nil
	case "gw3":
		return control.Outcome{Peer: peer, Error: "peer answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN"}, nil
	}
	return control.Outcome{}, fmt.Errorf("no such peer %q", peer)
}

func (f *fakeIKE) Terminate(peer string) error {
	f.terminated = peer
	return nil
}
