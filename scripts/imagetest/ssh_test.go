package imagetest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"alixsec.dev/scripts/qemu"
)

// sshTimeout bounds one SSH conversation with a TCG-emulated board (key
// exchange and signatures on an emulated Pentium).
const sshTimeout = 90 * time.Second

var (
	consoleHostKey = regexp.MustCompile(`ssh host key: (ED25519 SHA256:[A-Za-z0-9+/]+)`)
	bannerVersion  = regexp.MustCompile(`alixsec (\S+) board=qemu`)
)

// TestSSH boots one board with its SSH port forwarded to 127.0.0.1, sets
// an authorized key on the console and commits, then checks over SSH with
// the Go client and with OpenSSH's ssh: the host key is the one the
// console showed, key login gets the CLI, a wrong key and a password are
// refused (and logged), exec prints the version with exit 0 and a failing
// command exits non-zero, and a config loaded over SSH is committed.
func TestSSH(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatalf("OpenSSH client missing (scripts/deps.sh installs openssh-client): %v", err)
	}
	port := qemu.FreeTCPPort(t)
	b := qemu.StartBoard(t, artifact(t, "qemu.img"), "qemu", qemu.SSHNetArgs(port)...)
	if err := b.WaitBoot(); err != nil {
		t.Fatal(err)
	}
	boot := b.VM.Log()
	m := consoleHostKey.FindStringSubmatch(boot)
	if m == nil {
		t.Fatalf("the console did not show the ssh host key fingerprint")
	}
	fingerprint := m[1]
	v := bannerVersion.FindStringSubmatch(boot)
	if v == nil {
		t.Fatal("no version in the banner")
	}
	version := v[1]
	if out, err := b.Run("show system"); err != nil || !strings.Contains(out, "ssh host key: "+fingerprint) || !strings.Contains(out, "ssh:       off") {
		t.Fatalf("show system (%v):\n%s\nwant ssh off and host key %s", err, out, fingerprint)
	}

	user := newSSHKey(t)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(user.PublicKey()))) + " test@host"
	if err := b.Configure("ssh key", []string{`set system ssh authorized-key test "` + authorized + `"`}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(`configure`); err != nil {
		t.Fatal(err)
	}
	if out, err := b.Run(`set system ssh authorized-key bad "ssh-ed25519 AAAAnotakey"`); err == nil || !strings.Contains(err.Error(), "must be an OpenSSH public key line") {
		t.Fatalf("a bad key was not refused with a clear line: %v\n%s", err, out)
	}
	if _, err := b.Run("exit"); err != nil {
		t.Fatal(err)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var hostKey ssh.PublicKey
	checkHost := func(host string, remote net.Addr, key ssh.PublicKey) error {
		if got := "ED25519 " + ssh.FingerprintSHA256(key); got != fingerprint {
			return fmt.Errorf("host key %s, but the console showed %s", got, fingerprint)
		}
		hostKey = key
		return nil
	}
	dial := func(auth ...ssh.AuthMethod) (*ssh.Client, error) {
		return ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "admin", Auth: auth, HostKeyCallback: checkHost, Timeout: sshTimeout})
	}
	// sshd follows the commit: the first tries may come before it listens.
	var c *ssh.Client
	for deadline := time.Now().Add(qemu.CommandTimeout); ; time.Sleep(2 * time.Second) {
		if c, err = dial(ssh.PublicKeys(user)); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("key login: %v", err)
	}
	defer c.Close()

	t.Run("interactive CLI", func(t *testing.T) {
		term, err := openTerminal(c)
		if err != nil {
			t.Fatal(err)
		}
		defer term.close()
		term.expect(t, "alixsec> ")
		term.send("show version\r")
		term.expect(t, "alixsec "+version)
		term.send("sh\t")
		term.expect(t, "show ")
		term.send("?")
		term.expect(t, "firmware version")
		term.send("\x15exit\r")
	})
	t.Run("figures", func(t *testing.T) {
		// Printed, not asserted: a fresh login (TCP, key exchange, host
		// and user signatures under TCG) and one command on it.
		start := time.Now()
		c2, err := dial(ssh.PublicKeys(user))
		if err != nil {
			t.Fatal(err)
		}
		login := time.Since(start)
		out, _ := runGo(t, c2, "show system", "")
		c2.Close()
		t.Logf("ssh login %.2f s, login + show system %.2f s under TCG", login.Seconds(), time.Since(start).Seconds())
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "memory:") || strings.HasPrefix(l, "ssh") {
				t.Logf("%s", l)
			}
		}
	})
	t.Run("exec status", func(t *testing.T) {
		if out, status := runGo(t, c, "show version", ""); status != 0 || !strings.Contains(out, "alixsec "+version) {
			t.Errorf("show version: exit %d:\n%s", status, out)
		}
		if out, status := runGo(t, c, "show ipsec frobnicate", ""); status == 0 || !strings.Contains(out, "% ") {
			t.Errorf("a failing command: exit %d:\n%s", status, out)
		}
	})
	t.Run("config loaded over ssh", func(t *testing.T) {
		cur, status := runGo(t, c, "show configuration", "")
		if status != 0 || !strings.Contains(cur, "set system ssh authorized-key test") {
			t.Fatalf("show configuration: exit %d:\n%s", status, cur)
		}
		next := strings.Replace(cur, "set system hostname alixsec", "set system hostname sshgw", 1)
		out, status := runGo(t, c, `configure; load -; commit "loaded over ssh"`, next)
		if status != 0 || !strings.Contains(out, "committed revision") {
			t.Fatalf("load over ssh: exit %d:\n%s", status, out)
		}
		// The console sees it: running config and history.
		if out, err := b.Run("show configuration system hostname"); err != nil || !strings.Contains(out, "set system hostname sshgw") {
			t.Fatalf("console show configuration (%v):\n%s", err, out)
		}
		if out, err := b.Run("show history"); err != nil || !strings.Contains(out, "loaded over ssh") {
			t.Fatalf("console show history (%v):\n%s", err, out)
		}
	})
	if hostKey == nil {
		t.Fatal("no host key seen")
	}

	dir := t.TempDir()
	keyFile := writeOpenSSHKey(t, dir, "id_ed25519", user)
	strangerFile := writeOpenSSHKey(t, dir, "id_stranger", newSSHKey(t))
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(hostKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	openssh := func(identity string, extra []string, command string) (string, int) {
		args := []string{"-F", "/dev/null", "-p", fmt.Sprint(port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
			"-o", "IdentityAgent=none", "-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=yes",
			"-o", "ConnectTimeout=90", "-o", "LogLevel=ERROR"}
		if identity != "" {
			args = append(args, "-i", identity)
		}
		args = append(append(args, extra...), "admin@127.0.0.1", command)
		cmd := exec.Command(sshBin, args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		if err != nil {
			t.Fatalf("ssh: %v", err)
		}
		return string(out), 0
	}
	t.Run("openssh", func(t *testing.T) {
		if out, status := openssh(keyFile, nil, "show version"); status != 0 || !strings.Contains(out, "alixsec "+version) {
			t.Errorf("ssh show version: exit %d:\n%s", status, out)
		}
		if out, status := openssh(keyFile, nil, "frobnicate"); status != 1 || !strings.Contains(out, `% unknown command "frobnicate"`) {
			t.Errorf("ssh frobnicate: exit %d, want 1:\n%s", status, out)
		}
	})
	t.Run("refused", func(t *testing.T) {
		if out, status := openssh(strangerFile, nil, "show version"); status != 255 || !strings.Contains(out, "Permission denied (publickey)") {
			t.Errorf("ssh with a key that is not authorized: exit %d:\n%s", status, out)
		}
		if out, status := openssh("", []string{"-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no"}, "show version"); status != 255 || !strings.Contains(out, "Permission denied (publickey)") {
			t.Errorf("ssh with a password: exit %d:\n%s", status, out)
		}
		stranger := newSSHKey(t)
		if _, err := dial(ssh.PublicKeys(stranger)); err == nil {
			t.Error("Go client: a key that is not authorized logged in")
		}
		if _, err := dial(ssh.Password("alixsec")); err == nil || !strings.Contains(err.Error(), "no supported methods remain") {
			t.Errorf("Go client with a password: %v", err)
		}
		// The refusals are in the log with source, user and key; the
		// session opened before them still works.
		out, status := runGo(t, c, "show log", "")
		if status != 0 || !strings.Contains(out, "login refused from 10.99.0.2") || !strings.Contains(out, ssh.FingerprintSHA256(stranger.PublicKey())) {
			t.Errorf("show log lacks the refused logins (exit %d):\n%s", status, qemu.Tail(out, 30))
		}
	})
}

// testKey is a user key pair: a signer for the Go client and the private
// key to write for OpenSSH.
type testKey struct {
	ssh.Signer
	priv ed25519.PrivateKey
}

func newSSHKey(t *testing.T) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{Signer: s, priv: priv}
}

// writeOpenSSHKey writes k's private key as OpenSSH's ssh reads it.
func writeOpenSSHKey(t *testing.T, dir, name string, k testKey) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(k.priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runGo runs command over c with stdin and returns the output and exit
// status.
func runGo(t *testing.T, c *ssh.Client, command, stdin string) (string, int) {
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
	t.Fatalf("%s: %v\n%s", command, err, out)
	return "", -1
}

// terminal is an interactive session with a pty.
type terminal struct {
	s  *ssh.Session
	in io.WriteCloser
	mu sync.Mutex
	b  bytes.Buffer
}

func openTerminal(c *ssh.Client) (*terminal, error) {
	s, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		return nil, err
	}
	in, err := s.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.Shell(); err != nil {
		return nil, err
	}
	tm := &terminal{s: s, in: in}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := out.Read(buf)
			tm.mu.Lock()
			tm.b.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return tm, nil
}

func (tm *terminal) send(s string) { io.WriteString(tm.in, s) }

func (tm *terminal) close() { tm.s.Close() }

func (tm *terminal) expect(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(sshTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		tm.mu.Lock()
		if i := strings.Index(tm.b.String(), s); i >= 0 {
			tm.b.Next(i + len(s))
			tm.mu.Unlock()
			return
		}
		tm.mu.Unlock()
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	t.Fatalf("terminal output lacks %q:\n%q", s, tm.b.String())
}
