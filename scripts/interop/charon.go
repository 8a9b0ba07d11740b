package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StartTimeout bounds how long StartCharon waits for charon's vici socket.
const StartTimeout = 30 * time.Second

// charonPlugins is the explicit plugin list (load_modular = no): exactly what
// certificate authentication, the suites we test, userspace ESP and vici
// need. kernel-libipsec does ESP over a TUN device because the host kernel
// has no ESP; kernel-netlink still does routes and addresses.
const charonPlugins = "random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey " +
	"sha1 sha2 hmac aes gcm kdf curve25519 kernel-libipsec kernel-netlink socket-default vici"

// charonBinaries are the daemons we can drive, in order of preference, with
// the strongswan.conf section each reads. charon-systemd (package
// charon-systemd) runs in the foreground and writes no pidfile;
// /usr/lib/ipsec/charon (package strongswan-charon) writes /run/charon.pid,
// which the per-node /run mount keeps apart.
var charonBinaries = []struct{ path, section string }{
	{"/usr/sbin/charon-systemd", "charon-systemd"},
	{"/usr/lib/ipsec/charon", "charon"},
}

// FindCharon returns the charon binary to run and its strongswan.conf
// section name, or an error naming the packages to install.
func FindCharon() (path, section string, err error) {
	for _, b := range charonBinaries {
		if _, err := os.Stat(b.path); err == nil {
			return b.path, b.section, nil
		}
	}
	return "", "", errors.New("no charon binary (/usr/sbin/charon-systemd or /usr/lib/ipsec/charon): " +
		"run scripts/interop/deps.sh as root")
}

// Charon is one charon daemon running in a node's network namespace and in
// its own mount namespace, where Dir/run is bind-mounted over /run.
type Charon struct {
	Node       *Node
	Dir        string // instance directory: strongswan.conf, run/, swanctl/
	SwanctlDir string // SWANCTL_DIR: swanctl.conf, x509ca/, x509/, private/ ...
	RunDir     string // bind-mounted over /run inside charon's namespace
	cmd        *exec.Cmd
	done       chan struct{} // closed when the process has exited
	waitErr    error         // valid after done is closed
}

// Paths of charon's files as charon itself sees them (inside its /run).
const (
	viciInside = "/run/charon.vici"
	logInside  = "/run/charon.log"
)

// CharonOptions change the strongswan.conf StartCharonWith writes.
type CharonOptions struct {
	// Quiet logs only charon's basic messages (level 0) instead of IKE and
	// config details (level 2, flushed per line), for benchmarks.
	Quiet bool
	// NoDoSProtection turns off charon's COOKIE demand above 30 half-open
	// IKE_SAs, so a handshake load measures handshakes.
	NoDoSProtection bool
	// MakeBeforeBreak makes charon reauthenticate make-before-break
	// (charon.make_before_break): the new IKE_SA and CHILD_SAs come up
	// before the old IKE_SA is deleted.
	MakeBeforeBreak bool
}

// StartCharon writes a strongswan.conf under dir, starts charon in node's
// namespaces and waits (at most StartTimeout) until vici answers. The
// caller must call Stop.
func StartCharon(ctx context.Context, node *Node, dir string) (*Charon, error) {
	return StartCharonWith(ctx, node, dir, CharonOptions{})
}

// StartCharonWith is StartCharon with options.
func StartCharonWith(ctx context.Context, node *Node, dir string, opts CharonOptions) (*Charon, error) {
	bin, section, err := FindCharon()
	if err != nil {
		return nil, err
	}
	c := &Charon{
		Node:       node,
		Dir:        dir,
		SwanctlDir: filepath.Join(dir, "swanctl"),
		RunDir:     filepath.Join(dir, "run"),
		done:       make(chan struct{}),
	}
	for _, sub := range append([]string{c.RunDir}, swanctlSubdirs(c.SwanctlDir)...) {
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return nil, fmt.Errorf("charon %s: %w", node.Name, err)
		}
	}
	conf := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(conf, []byte(strongswanConf(section, opts)), 0o600); err != nil {
		return nil, fmt.Errorf("charon %s: %w", node.Name, err)
	}
	out, err := os.Create(filepath.Join(dir, "charon.out"))
	if err != nil {
		return nil, fmt.Errorf("charon %s: %w", node.Name, err)
	}
	defer out.Close()
	// ip netns exec and unshare both exec without forking and sh execs
	// charon, so cmd.Process is charon itself.
	c.cmd = exec.Command("ip", "netns", "exec", node.NS,
		"unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount --bind "$1" /run && exec "$2"`, "sh", c.RunDir, bin)
	c.cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+conf)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	// If the test binary dies, charon dies with it; CleanLeftovers handles
	// the rest (namespaces) on the next run.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start charon %s in %s: %w", node.Name, node.NS, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(ctx); err != nil {
		return c, errors.Join(err, c.Stop())
	}
	return c, nil
}

// waitReady polls until vici accepts a connection and answers --stats.
func (c *Charon) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	sock := filepath.Join(c.RunDir, filepath.Base(viciInside))
	var lastErr error
	for {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			if _, err := c.Swanctl(ctx, "--stats"); err == nil {
				return nil
			} else {
				lastErr = err
			}
		} else {
			lastErr = err
		}
		select {
		case <-c.done:
			return fmt.Errorf("charon %s exited before vici was ready: %v", c.Node.Name, c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("charon %s: vici not ready after %v: %w", c.Node.Name, StartTimeout, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends charon (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (c *Charon) Stop() error { return stopProcess(c.cmd, c.done, "charon "+c.Node.Name) }

// Kill ends charon with SIGKILL, as a crash or a power cut would: it
// sends no Delete and, with kernel-libipsec, leaves no kernel SAs. It
// waits for the exit.
func (c *Charon) Kill() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return fmt.Errorf("charon %s not running", c.Node.Name)
	}
	if err := c.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill charon %s: %w", c.Node.Name, err)
	}
	<-c.done
	return nil
}

// Exited reports whether the charon process has ended.
func (c *Charon) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Swanctl runs swanctl with args in charon's network and mount namespaces
// (so /run/charon.vici is charon's socket) with SWANCTL_DIR set, and
// returns its stdout.
func (c *Charon) Swanctl(ctx context.Context, args ...string) (string, error) {
	if c.cmd == nil || c.cmd.Process == nil {
		return "", fmt.Errorf("charon %s not running", c.Node.Name)
	}
	argv := []string{"--target", fmt.Sprint(c.cmd.Process.Pid), "--mount", "--net", "swanctl"}
	argv = append(argv, args...)
	argv = append(argv, "--uri", "unix://"+viciInside)
	out, err := runEnv(ctx, []string{"SWANCTL_DIR=" + c.SwanctlDir}, "nsenter", argv...)
	if err != nil {
		return out, fmt.Errorf("charon %s: %w", c.Node.Name, err)
	}
	return out, nil
}

// Configure writes swanctl.conf with conns and loads everything
// (connections, certificates, keys, CRLs) with swanctl --load-all.
func (c *Charon) Configure(ctx context.Context, conns ...Conn) error {
	text, err := SwanctlConf(conns...)
	if err != nil {
		return fmt.Errorf("charon %s: %w", c.Node.Name, err)
	}
	if err := os.WriteFile(filepath.Join(c.SwanctlDir, "swanctl.conf"), []byte(text), 0o600); err != nil {
		return fmt.Errorf("charon %s: %w", c.Node.Name, err)
	}
	if _, err := c.Swanctl(ctx, "--load-all", "--noprompt"); err != nil {
		return err
	}
	return nil
}

// Initiate starts CHILD_SA child (and its IKE_SA) and waits for the
// outcome, at most timeout (swanctl's own -t, whole seconds, at least 1).
// The error includes swanctl's output, which names charon's reason.
func (c *Charon) Initiate(ctx context.Context, child string, timeout time.Duration) (string, error) {
	secs := int(timeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	return c.Swanctl(ctx, "--initiate", "--child", child, "--timeout", fmt.Sprint(secs))
}

// ListSAs returns charon's IKE_SAs as parsed from `swanctl --list-sas --raw`.
func (c *Charon) ListSAs(ctx context.Context) ([]IKESA, error) {
	out, err := c.Swanctl(ctx, "--list-sas", "--raw")
	if err != nil {
		return nil, err
	}
	sas, err := ParseListSAs(out)
	if err != nil {
		return nil, fmt.Errorf("charon %s: %w", c.Node.Name, err)
	}
	return sas, nil
}

// WaitSAs polls ListSAs until ok returns true or timeout passes, and returns
// the last list seen. Use it where the outcome on the far side lands a
// little after the near side's swanctl returns.
func (c *Charon) WaitSAs(ctx context.Context, timeout time.Duration, ok func([]IKESA) bool) ([]IKESA, error) {
	deadline := time.Now().Add(timeout)
	for {
		sas, err := c.ListSAs(ctx)
		if err != nil {
			return nil, err
		}
		if ok(sas) {
			return sas, nil
		}
		if time.Now().After(deadline) {
			return sas, fmt.Errorf("charon %s: SAs not as expected after %v: %s", c.Node.Name, timeout, FormatSAs(sas))
		}
		select {
		case <-ctx.Done():
			return sas, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Log returns charon's log file and whatever it wrote to stdout/stderr.
func (c *Charon) Log() string {
	var b bytes.Buffer
	for _, f := range []string{filepath.Join(c.RunDir, filepath.Base(logInside)), filepath.Join(c.Dir, "charon.out")} {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
			continue
		}
		b.Write(data)
	}
	return b.String()
}

// LogContains reports whether charon's log has a line containing s.
func (c *Charon) LogContains(s string) bool {
	return strings.Contains(c.Log(), s)
}

// strongswanConf is the per-instance strongswan.conf. One setting per line:
// strongswan.conf silently drops settings after a ';'. The fwmark pair lets
// IKE packets bypass the libipsec routes (table 220) that would otherwise
// send charon's own UDP into the TUN device; allow_peer_ts makes host-to-host
// tunnels (TS = the peer's own address) work through libipsec.
func strongswanConf(section string, opts CharonOptions) string {
	def, ike, cfg, flush, dos := "1", "2", "2", "yes", "yes"
	if opts.Quiet {
		def, ike, cfg, flush = "0", "0", "0", "no"
	}
	if opts.NoDoSProtection {
		dos = "no"
	}
	mbb := "no"
	if opts.MakeBeforeBreak {
		mbb = "yes"
	}
	return section + ` {
	make_before_break = ` + mbb + `
	load_modular = no
	load = ` + charonPlugins + `
	dos_protection = ` + dos + `
	journal {
		default = -1
	}
	filelog {
		interop {
			path = ` + logInside + `
			time_format = %H:%M:%S
			flush_line = ` + flush + `
			default = ` + def + `
			ike = ` + ike + `
			cfg = ` + cfg + `
		}
	}
	plugins {
		vici {
			socket = unix://` + viciInside + `
		}
		kernel-libipsec {
			allow_peer_ts = yes
		}
		kernel-netlink {
			fwmark = !0x42
		}
		socket-default {
			fwmark = 0x42
		}
	}
}
`
}

// stopProcess ends cmd, whose exit closes done: SIGTERM, then SIGKILL
// after 5 s; it waits for the exit and says when the kill was needed.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, name string) error {
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("%s ignored SIGTERM for 5 s, killed", name)
}
