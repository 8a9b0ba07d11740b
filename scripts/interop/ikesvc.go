package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// BuildIkesvc builds ./ikesvc of the module at repoRoot into out and checks
// that it has the -config flag. The error's first line is what to report
// while ikesvc is not there yet.
func BuildIkesvc(ctx context.Context, repoRoot, out string) error {
	if _, err := runIn(ctx, repoRoot, "go", "build", "-o", out, "./ikesvc"); err != nil {
		return errors.New(buildError(err))
	}
	return checkConfigFlag(ctx, out)
}

// checkConfigFlag fails unless `bin -h` mentions -config. flag's usage
// lists every flag; -h exits 0 or 2 depending on the program, so only the
// text counts.
func checkConfigFlag(ctx context.Context, bin string) error {
	text, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	if !bytes.Contains(text, []byte("-config")) {
		return fmt.Errorf("%s -h lists no -config flag", bin)
	}
	return nil
}

// buildError picks the first line of go build's complaint (our run error
// is "go build ...: exit status 1: STDERR").
func buildError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "exit status "); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			msg = msg[i+j+2:]
		}
	}
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return strings.TrimSpace(msg)
}

// IkesvcPeer is the peer entry of an ikesvc test config: one host-to-host
// tunnel to the charon node.
type IkesvcPeer struct {
	Name          string     // peer entry name
	Local, Remote netip.Addr // outer addresses (also the traffic selectors)
	Initiate      bool       // start-action start with address; else respond only
	OnRequest     bool       // with Initiate: start-action none, so it initiates only when asked (Ikesvc.Initiate)
	RemoteID      string     // exact identity; empty: RemotePattern
	RemotePattern string     // DN pattern, e.g. HostPattern
	CRLStrict     bool       // ipsec crl-mode strict
	IKEProposal   string     // e.g. aes128-sha256-x25519
	ESPProposal   string     // e.g. aes128-sha256
}

// IkesvcConfig returns host's alixca bundle lines (identity, key,
// certificates, CAs, CRLs) followed by the lines for peer.
func IkesvcConfig(host *HostCreds, peer IkesvcPeer) (string, error) {
	if host.ConfigSet == "" {
		return "", fmt.Errorf("host %s has no bundle config (revoked?)", host.Name)
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(host.ConfigSet, "\n") + "\n")
	set := func(format string, args ...any) { fmt.Fprintf(&b, "set "+format+"\n", args...) }
	if peer.CRLStrict {
		set("ipsec crl-mode strict")
	}
	if peer.IKEProposal != "" {
		set("ipsec ike-proposal %s", peer.IKEProposal)
	}
	if peer.ESPProposal != "" {
		set("ipsec esp-proposal %s", peer.ESPProposal)
	}
	p := "ipsec peer " + peer.Name
	if peer.Initiate {
		set("%s address %s", p, peer.Remote)
	}
	switch {
	case peer.RemoteID != "":
		set("%s remote-id %q", p, peer.RemoteID)
	case peer.RemotePattern != "":
		set("%s remote-id-pattern %q", p, peer.RemotePattern)
	default:
		return "", errors.New("ikesvc peer needs RemoteID or RemotePattern")
	}
	set("%s mode tunnel", p)
	set("%s local-ts %s", p, netip.PrefixFrom(peer.Local, peer.Local.BitLen()))
	set("%s remote-ts %s", p, netip.PrefixFrom(peer.Remote, peer.Remote.BitLen()))
	if peer.Initiate && !peer.OnRequest {
		set("%s start-action start", p)
	} else {
		set("%s start-action none", p)
	}
	return b.String(), nil
}

// Ikesvc is one ikesvc process in a node's network namespace with the
// memory kernel backend (the host kernel has no ESP).
type Ikesvc struct {
	Node    *Node
	Dir     string
	Config  string // config file
	Control string // control socket
	bin     string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// StartIkesvc writes config to dir/ikesvc.set and runs
// `ikesvc -config FILE -kernel memory -control SOCKET` in node's namespace,
// waiting (at most 30 s) until the control socket answers `show`. The
// socket lives in controlDir, which must be short (unix socket paths are
// limited to 107 bytes).
func StartIkesvc(ctx context.Context, bin string, node *Node, dir, controlDir, config string) (*Ikesvc, error) {
	return StartIkesvcArgs(ctx, bin, node, dir, controlDir, config, "-kernel", "memory")
}

// StartIkesvcArgs is StartIkesvc with the flags after -config and -control
// given by the caller (a kernel backend, -state, -v).
func StartIkesvcArgs(ctx context.Context, bin string, node *Node, dir, controlDir, config string, args ...string) (*Ikesvc, error) {
	s := &Ikesvc{
		Node:    node,
		Dir:     dir,
		Config:  filepath.Join(dir, "ikesvc.set"),
		Control: filepath.Join(controlDir, node.Name+".sock"),
		bin:     bin,
		done:    make(chan struct{}),
	}
	if len(s.Control) > 100 {
		return nil, fmt.Errorf("ikesvc control socket path too long: %s", s.Control)
	}
	if err := os.WriteFile(s.Config, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("ikesvc %s: %w", node.Name, err)
	}
	out, err := os.Create(filepath.Join(dir, "ikesvc.log"))
	if err != nil {
		return nil, fmt.Errorf("ikesvc %s: %w", node.Name, err)
	}
	defer out.Close()
	s.cmd = exec.Command("ip", append([]string{"netns", "exec", node.NS,
		bin, "-config", s.Config, "-control", s.Control}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ikesvc %s in %s: %w", node.Name, node.NS, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := s.Show(ctx)
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return s, fmt.Errorf("ikesvc %s exited before its control socket answered: %v", node.Name, s.waitErr)
		case <-ctx.Done():
			return s, errors.Join(fmt.Errorf("ikesvc %s: control socket not ready after 30 s: %w", node.Name, err), s.Stop())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Show runs `ikesvc -control SOCKET show` and returns its output.
func (s *Ikesvc) Show(ctx context.Context) (string, error) {
	out, err := run(ctx, s.bin, "-control", s.Control, "show")
	if err != nil {
		return out, fmt.Errorf("ikesvc %s: %w", s.Node.Name, err)
	}
	return out, nil
}

// Initiate runs `ikesvc -control SOCKET -timeout T initiate PEER` and
// returns what it printed (the outcome line); the error is non-nil when it
// exited non-zero, i.e. the handshake failed.
func (s *Ikesvc) Initiate(ctx context.Context, peer string, timeout time.Duration) (string, error) {
	out, err := run(ctx, s.bin, "-control", s.Control, "-timeout", timeout.String(), "initiate", peer)
	if err != nil {
		return out, fmt.Errorf("ikesvc %s: %w", s.Node.Name, err)
	}
	return out, nil
}

// Stop ends ikesvc (SIGTERM, SIGKILL after 5 s) and waits for it.
func (s *Ikesvc) Stop() error { return stopProcess(s.cmd, s.done, "ikesvc "+s.Node.Name) }

// Kill ends ikesvc with SIGKILL, as a crash would (no cleanup of any
// kind), and waits for it.
func (s *Ikesvc) Kill() error {
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill ikesvc %s: %w", s.Node.Name, err)
	}
	<-s.done
	return nil
}

// Log returns what ikesvc wrote to stdout and stderr.
func (s *Ikesvc) Log() string {
	data, err := os.ReadFile(filepath.Join(s.Dir, "ikesvc.log"))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(data)
}

// The only assumptions the tests make about `ikesvc -control SOCKET show`
// (one place to adapt once its format is fixed): an established SA is
// marked with the upper-case word ESTABLISHED, as swanctl does, and its
// line(s) carry the ESP SPIs in hex and the peer's identity; a refused peer
// leaves no ESTABLISHED anywhere.
const showEstablished = "ESTABLISHED"

// ShowHasSA checks that ikesvc's show output has an established SA with
// both ESP SPIs of child (charon's view; matched without regard to case or
// a 0x prefix) and remoteID.
func ShowHasSA(show string, child *ChildSA, remoteID string) error {
	low := strings.ToLower(show)
	var missing []string
	if !strings.Contains(show, showEstablished) {
		missing = append(missing, "the word "+showEstablished)
	}
	for _, spi := range []string{child.SPIIn, child.SPIOut} {
		if !strings.Contains(low, strings.ToLower(spi)) {
			missing = append(missing, "SPI "+spi)
		}
	}
	if !strings.Contains(low, strings.ToLower(remoteID)) {
		missing = append(missing, "identity "+remoteID)
	}
	if len(missing) > 0 {
		return fmt.Errorf("ikesvc show lacks %s:\n%s", strings.Join(missing, ", "), show)
	}
	return nil
}

// ShowHasNoSA checks that ikesvc's show output has no established SA.
func ShowHasNoSA(show string) error {
	if strings.Contains(show, showEstablished) {
		return fmt.Errorf("ikesvc show has an %s SA:\n%s", showEstablished, show)
	}
	return nil
}

// WaitShow polls Show until check passes or timeout (at most 30 s) ends,
// and returns the last error.
func (s *Ikesvc) WaitShow(ctx context.Context, timeout time.Duration, check func(show string) error) error {
	if timeout > 30*time.Second {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		show, err := s.Show(ctx)
		if err == nil {
			if err = check(show); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
