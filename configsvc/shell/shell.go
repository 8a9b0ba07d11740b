// Package shell is the router-style CLI on the serial console: an
// operational mode (prompt "host> ") and a configuration mode (prompt
// "host# ") that edits a candidate through configsvc's API. Each command
// group lives in its own file; Exec runs one line, so tests drive the
// shell with plain strings and bytes.Buffer.
package shell

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/model"
)

// Default paths of the sockets the shell reads status from.
const (
	DefaultIKESocket = "/run/ikesvc.sock"
	DefaultLogSocket = "/run/log.sock"
)

// Env is everything the shell touches outside itself.
type Env struct {
	Client    *api.Client
	IKESocket string // ikesvc control socket, for show ipsec sa
	LogSocket string // log ring socket, for show log
	ProcRoot  string // "/proc", for show system
	SysRoot   string // "/sys", for show interfaces statistics
	Version   string // firmware version for show version
	// SignalInit sends sig to PID 1 (reboot: SIGTERM, poweroff: SIGUSR2).
	SignalInit func(sig syscall.Signal) error
	// Interfaces lists network interfaces (net.Interfaces when nil).
	Interfaces func() ([]net.Interface, error)
	// Ping sends echo requests to host and reports to w.
	Ping func(ctx context.Context, w io.Writer, host string, opts PingOptions) error
	// Sleep waits after a failed password (time.Sleep when nil).
	Sleep func(time.Duration)
	// Dial reconnects to configsvc after it restarted (optional).
	Dial func() (*api.Client, error)
	// StartShell runs /bin/sh on the console for `start shell` (nil: not
	// offered).
	StartShell func() error
	// Timeout bounds each API call and socket conversation.
	Timeout time.Duration
	// InitiateWait is how long request ipsec initiate waits for the
	// outcome (DefaultInitiateWait when 0).
	InitiateWait time.Duration
	// Now is the clock certificates are checked against (time.Now when
	// nil).
	Now func() time.Time
	// Firmware runs request system upgrade/rollback and adds the slots to
	// show system (nil: not offered).
	Firmware Firmware
	// KernelTable prints the kernel's whole XFRM table for show ipsec
	// kernel (nil: not available).
	KernelTable func(ctx context.Context, w io.Writer) error
	// Stdin is the session's input for commands that read a stream
	// (request system upgrade -); nil when the session has none.
	Stdin io.Reader
}

type mode int

const (
	modeOperational mode = iota
	modeConfiguration
)

// Shell is one CLI login.
type Shell struct {
	env      Env
	out      io.Writer
	in       lineReader // the console, for pasted PEM; nil when only Exec is used
	errs     io.Writer  // a command's "% ..." error line; out when nil
	mode     mode
	sess     *api.Session
	hostname string
	quit     bool
}

// New makes a shell writing to out.
func New(env Env, out io.Writer) *Shell {
	if env.IKESocket == "" {
		env.IKESocket = DefaultIKESocket
	}
	if env.LogSocket == "" {
		env.LogSocket = DefaultLogSocket
	}
	if env.ProcRoot == "" {
		env.ProcRoot = "/proc"
	}
	if env.SysRoot == "" {
		env.SysRoot = "/sys"
	}
	if env.Interfaces == nil {
		env.Interfaces = net.Interfaces
	}
	if env.Ping == nil {
		env.Ping = icmpPing
	}
	if env.Sleep == nil {
		env.Sleep = time.Sleep
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Timeout == 0 {
		env.Timeout = 30 * time.Second
	}
	sh := &Shell{env: env, out: out, hostname: (&model.System{}).EffectiveHostname()}
	sh.refreshHostname()
	return sh
}

func (sh *Shell) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), sh.env.Timeout)
}

// Prompt is "<hostname>> " in operational and "<hostname># " in
// configuration mode.
func (sh *Shell) Prompt() string {
	if sh.mode == modeConfiguration {
		return sh.hostname + "# "
	}
	return sh.hostname + "> "
}

// errOut is where a failed command's "% ..." line goes: out, except for
// remote commands without a terminal, whose errors go to stderr so that
// `ssh HOST show configuration > FILE` keeps FILE clean.
func (sh *Shell) errOut() io.Writer {
	if sh.errs != nil {
		return sh.errs
	}
	return sh.out
}

// Done reports whether the user ended the session.
func (sh *Shell) Done() bool { return sh.quit }

func (sh *Shell) refreshHostname() {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err == nil {
		sh.hostname = snap.Config.System.EffectiveHostname()
	}
}

// Exec runs one input line and writes its output. A line ending in "?"
// prints help for that position instead of running. It returns the
// error it printed (nil when the command succeeded), so that a remote
// command's exit status can say whether it did.
func (sh *Shell) Exec(line string) error {
	if help, ok := helpRequest(line); ok {
		sh.printHelp(help)
		return nil
	}
	cmd, args, err := sh.parse(line)
	if err != nil {
		fmt.Fprintf(sh.errOut(), "%% %v\n", oneLine(err))
		return err
	}
	if cmd == nil {
		return nil
	}
	if err := cmd.run(sh, args); err != nil {
		fmt.Fprintf(sh.errOut(), "%% %v\n", err)
		if api.IsCode(err, api.CodeUnavailable) || api.IsCode(err, api.CodeNotFound) && sh.sess != nil && strings.Contains(err.Error(), "edit session") {
			sh.reconnect()
		}
		return err
	}
	return nil
}

// reconnect replaces a lost configsvc connection (configsvc restarted);
// an edit session does not survive that, so the shell leaves
// configuration mode.
func (sh *Shell) reconnect() {
	if sh.mode == modeConfiguration {
		fmt.Fprintln(sh.out, "% configuration session lost; back in operational mode")
	}
	sh.sess, sh.mode = nil, modeOperational
	if sh.env.Dial == nil {
		return
	}
	if c, err := sh.env.Dial(); err == nil {
		sh.env.Client.Close()
		sh.env.Client = c
	}
}

// Close ends an open edit session.
func (sh *Shell) Close() {
	if sh.sess != nil {
		ctx, cancel := sh.ctx()
		defer cancel()
		sh.sess.Close(ctx)
		sh.sess = nil
	}
}
