package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/internal/testserver"
)

// logLines collects the server's log for assertions.
type logLines struct {
	mu    sync.Mutex
	lines []string
	t     *testing.T
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) find(sub string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return s
		}
	}
	return ""
}

func (l *logLines) wait(t *testing.T, sub string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s := l.find(sub); s != "" {
			return s
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no log line with %q in:\n%s", sub, strings.Join(l.lines, "\n"))
	return ""
}

// fixture is a real configsvc (bbolt file) and an sshd following it.
type fixture struct {
	cfg    *testserver.Server
	client *api.Client
	srv    *Server
	log    *logLines
	port   int
	user   ssh.Signer // an authorized key once authorize ran
}

func newKey(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{cfg: testserver.Start(t, "qemu"), log: &logLines{t: t}, port: freePort(t), user: newKey(t)}
	c, err := api.Dial(f.cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.client = c
	f.srv = newServer(f.log.logf)
	f.srv.idleUnit = 300 * time.Millisecond
	cli := &cliRunner{socket: f.cfg.Socket, version: "v9.8.7"}
	f.srv.session = cli.run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		follow(ctx, f.cfg.Socket, f.srv, f.log.logf)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		f.srv.Close()
	})
	return f
}

// commit sets lines over the API as an admin on the console would.
func (f *fixture) commit(t *testing.T, lines ...string) uint64 {
	t.Helper()
	ctx := context.Background()
	s, err := f.client.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, l := range lines {
		w := strings.Fields(l)
		if w[0] == "delete" {
			err = s.Delete(ctx, w[1:])
		} else {
			err = s.Set(ctx, w[1:])
		}
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	n, err := s.Commit(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	f.log.wait(t, fmt.Sprintf("revision %d:", n))
	return n
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// authorize sets f.user's key and the port, which turns the server on.
func (f *fixture) authorize(t *testing.T) {
	t.Helper()
	f.commitKey(t, "admin", f.user.PublicKey())
}

func (f *fixture) commitKey(t *testing.T, name string, k ssh.PublicKey) {
	t.Helper()
	ctx := context.Background()
	s, err := f.client.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for _, w := range [][]string{
		{"system", "ssh", "authorized-key", name, authorizedLine(k) + " " + name + "@test"},
		{"system", "ssh", "listen-address", "127.0.0.1"},
		{"system", "ssh", "port", fmt.Sprint(f.port)},
	} {
		if err := s.Set(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Commit(ctx, "ssh key")
	if err != nil {
		t.Fatal(err)
	}
	f.log.wait(t, fmt.Sprintf("revision %d: on", n))
}

func (f *fixture) hostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	key, _, err := f.client.HostKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

func (f *fixture) dial(t *testing.T, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	return ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", f.port), &ssh.ClientConfig{
		User:            "admin",
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(f.hostKey(t)),
		Timeout:         10 * time.Second,
	})
}

func (f *fixture) login(t *testing.T) *ssh.Client {
	t.Helper()
	c, err := f.dial(t, ssh.PublicKeys(f.user))
	if err != nil {
		t.Fatalf("login with the authorized key: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// execStatus runs command with stdin and returns its output and exit
// status.
func execStatus(t *testing.T, c *ssh.Client, command, stdin string) (string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Stdin = strings.NewReader(stdin)
	out, err := s.CombinedOutput(command)
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitStatus()
	}
	t.Fatalf("%s: %v", command, err)
	return "", -1
}

func TestOffUntilAKeyIsSet(t *testing.T) {
	f := start(t)
	f.commit(t, "set system ssh port "+fmt.Sprint(f.port), "set system ssh listen-address 127.0.0.1")
	if a := f.srv.Addrs(); len(a) != 0 {
		t.Fatalf("listening on %v with no authorized key", a)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", f.port), time.Second); err == nil {
		c.Close()
		t.Fatal("port open with no authorized key")
	}
	f.authorize(t)
	if a := f.srv.Addrs(); len(a) != 1 || a[0].String() != fmt.Sprintf("127.0.0.1:%d", f.port) {
		t.Fatalf("listeners %v", a)
	}
	f.login(t)
	f.commit(t, "delete system ssh authorized-key admin")
	if a := f.srv.Addrs(); len(a) != 0 {
		t.Fatalf("still listening on %v after the last key was deleted", a)
	}
}

// TestAuthPolicy: only the authorized key logs in; another key and a
// password are refused, each logged with the source, user and key; a
// removed key's session ends.
func TestAuthPolicy(t *testing.T) {
	f := start(t)
	f.authorize(t)
	stranger := newKey(t)
	if _, err := f.dial(t, ssh.PublicKeys(stranger)); err == nil {
		t.Fatal("a key that is not authorized logged in")
	}
	line := f.log.wait(t, "login refused from 127.0.0.1")
	if !strings.Contains(line, `user "admin"`) || !strings.Contains(line, ssh.FingerprintSHA256(stranger.PublicKey())) {
		t.Fatalf("refusal log line lacks user or key fingerprint: %q", line)
	}
	f.srv.limiter.succeeded(netip.MustParseAddr("127.0.0.1")) // no delay for the next tries
	_, err := f.dial(t, ssh.Password("admin"), ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
		return []string{"admin"}, nil
	}))
	if err == nil || !strings.Contains(err.Error(), "no supported methods remain") {
		t.Fatalf("password login: %v, want refused with publickey the only method", err)
	}
	f.srv.limiter.succeeded(netip.MustParseAddr("127.0.0.1"))
	c := f.login(t)
	if l := f.log.wait(t, "login of admin from 127.0.0.1 with key admin"); !strings.Contains(l, ssh.FingerprintSHA256(f.user.PublicKey())) {
		t.Fatalf("login log line: %q", l)
	}
	f.commitKey(t, "other", stranger.PublicKey())
	f.commit(t, "delete system ssh authorized-key admin")
	f.log.wait(t, "key admin is no longer authorized")
	if err := waitClosed(c, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func waitClosed(c *ssh.Client, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("connection still open after %v", timeout)
	}
}

// TestFailedLoginsAreSlowed: a source that just failed waits before its
// next handshake.
func TestFailedLoginsAreSlowed(t *testing.T) {
	f := start(t)
	f.authorize(t)
	stranger := newKey(t)
	for i := 0; i < 2; i++ {
		if _, err := f.dial(t, ssh.PublicKeys(stranger)); err == nil {
			t.Fatal("a key that is not authorized logged in")
		}
	}
	f.log.wait(t, "2 failures from this source, next try delayed 2s")
	start := time.Now()
	f.login(t)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("the login right after two failures took %v, want the penalty (about 2 s)", d)
	}
}

func TestExecExitStatus(t *testing.T) {
	f := start(t)
	f.authorize(t)
	c := f.login(t)
	// load - replaces the whole config: the file keeps the SSH lines.
	run, err := f.client.Running(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.SplitAfter(run.Text, "\n") {
		if strings.HasPrefix(l, "set system ssh ") {
			keep = append(keep, l)
		}
	}
	sshLines := strings.Join(keep, "")
	tests := []struct {
		command, stdin string
		status         int
		out            string
	}{
		{"show version", "", 0, "alixsec v9.8.7"},
		{"frobnicate", "", 1, `% unknown command "frobnicate"`},
		{"show configuration interfaces eth9", "", 1, "% "},
		{`configure; load -; commit "loaded over ssh"`, "set system hostname fleet1\nset interfaces eth0 address 10.99.0.9/24\n" + sshLines, 0, "committed revision"},
		{"configure; load -; commit never", "set system colour red\n", 1, "colour"},
		{"show configuration system hostname", "", 0, "set system hostname fleet1"},
	}
	for _, tc := range tests {
		out, status := execStatus(t, c, tc.command, tc.stdin)
		if status != tc.status || !strings.Contains(out, tc.out) {
			t.Errorf("%q: exit %d, output:\n%s\nwant exit %d and %q", tc.command, status, out, tc.status, tc.out)
		}
	}
	snap, err := f.client.Running(context.Background())
	if err != nil || snap.Comment != "loaded over ssh" || !strings.Contains(snap.Text, "10.99.0.9/24") {
		t.Fatalf("running after load over ssh: %q %q %v", snap.Comment, snap.Text, err)
	}
	// Without a terminal, stdin is a script of CLI lines.
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s.Stdin = strings.NewReader("show version\nfrobnicate\nshow version\n")
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	err = s.Wait()
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 1 || strings.Count(out.String(), "v9.8.7") != 1 {
		t.Fatalf("script: %v, output:\n%s", err, out.String())
	}
}

// TestInteractiveSession: pty + shell is the console CLI: prompt,
// commands, configuration mode, window-change, and the idle timeout.
func TestInteractiveSession(t *testing.T) {
	f := start(t)
	f.authorize(t)
	f.commit(t, "set system hostname gw1", "set system ssh idle-timeout 3") // 3 × 300 ms in this test
	c := f.login(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW := io.Pipe()
	s.Stdout = outW
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	term := &reader{r: outR}
	go term.pump()
	term.expect(t, "gw1> ")
	io.WriteString(in, "show version\r")
	term.expect(t, "alixsec v9.8.7")
	if err := s.WindowChange(50, 132); err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "configure\r")
	term.expect(t, "gw1# ")
	io.WriteString(in, "set system description \"over ssh\"\r")
	io.WriteString(in, "commit from the terminal\r")
	term.expect(t, "committed revision")
	io.WriteString(in, "exit\r")
	term.expect(t, "gw1> ")
	start := time.Now()
	f.log.wait(t, "idle for 900ms")
	if err := waitClosed(c, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("idle session closed after %v", d)
	}
	snap, _ := f.client.Running(context.Background())
	if snap.Config.System.Description != "over ssh" {
		t.Fatalf("commit from the interactive session missing: %q", snap.Text)
	}
}

// reader accumulates a terminal's output for expect.
type reader struct {
	r  io.Reader
	mu sync.Mutex
	b  bytes.Buffer
}

func (r *reader) pump() {
	buf := make([]byte, 4096)
	for {
		n, err := r.r.Read(buf)
		r.mu.Lock()
		r.b.Write(buf[:n])
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// expect waits for s after what earlier expects consumed.
func (r *reader) expect(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		i := strings.Index(r.b.String(), s)
		if i >= 0 {
			r.b.Next(i + len(s))
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("terminal output lacks %q:\n%q", s, r.b.String())
}
