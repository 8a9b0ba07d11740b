package noloss

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"alixsec.dev/scripts/qemu"
)

// Shell is a board's console in `start shell` (u-root's gosh), driven one
// command at a time. Each command line ends with an echo of its exit
// status, which marks the end of its output: prompts that the CLI prints
// when run from the shell cannot be mistaken for it.
type Shell struct {
	B       *qemu.Board
	Timeout time.Duration
}

// shellDone matches a command's output up to its status marker and the
// next shell prompt. The echoed command line holds `$?`, never digits.
var shellDone = regexp.MustCompile(`(?s)^(.*?)@@rc=(\d+)\r?\n\$ `)

// EnterShell types `start shell` in the board's CLI.
func EnterShell(b *qemu.Board) (*Shell, error) {
	// Wait for the shell's prompt before typing more: what the CLI has
	// read ahead would be lost to the shell.
	if _, err := b.VM.Command("start shell", qemu.CommandTimeout); err != nil {
		return nil, fmt.Errorf("board %s: start shell: %w", b.Name, err)
	}
	s := &Shell{B: b, Timeout: qemu.CommandTimeout}
	// The first status marker proves the shell is reading.
	if _, err := s.Run("true"); err != nil {
		return nil, fmt.Errorf("board %s: start shell: %w", b.Name, err)
	}
	return s, nil
}

// Run runs one shell command line and returns its output; a non-zero
// exit status is an error.
func (s *Shell) Run(cmd string) (string, error) {
	out, rc, err := s.run(cmd)
	if err == nil && rc != 0 {
		err = fmt.Errorf("board %s: %.100s: exit status %d:\n%s", s.B.Name, cmd, rc, out)
	}
	return out, err
}

func (s *Shell) run(cmd string) (string, int, error) {
	sep := "; "
	if strings.HasSuffix(cmd, "&") {
		sep = " " // a background job: "cmd & echo", never "&;"
	}
	if err := s.B.VM.Type(cmd + sep + `echo "@@rc=$?"`); err != nil {
		return "", 0, err
	}
	m, err := s.B.VM.Expect(shellDone, s.Timeout)
	if err != nil {
		return "", 0, fmt.Errorf("board %s: %.100s: %w", s.B.Name, cmd, err)
	}
	out := strings.ReplaceAll(m[1], "\r", "")
	// Drop the echoed command line.
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	} else {
		out = ""
	}
	rc, _ := strconv.Atoi(m[2])
	return out, rc, nil
}

// cliPrompt is the CLI's prompt at the start of a line of its output when
// it reads commands from a pipe; cliErr is one of its error lines.
var (
	cliPrompt = regexp.MustCompile(`(?m)^(?:[a-zA-Z0-9.-]+[>#] )+`)
	cliErr    = regexp.MustCompile(`(?m)^% .*`)
)

// CLI runs the firmware CLI from the shell with lines on its input (one
// session: `configure`, `set`, `commit` work) and returns what it printed
// without its prompts; a CLI error line is an error.
func (s *Shell) CLI(lines ...string) (string, error) {
	for _, l := range lines {
		if strings.ContainsAny(l, `'\%`) {
			return "", fmt.Errorf("CLI line %q: quote, backslash and %% are not passed through printf", l)
		}
	}
	out, err := s.Run("printf '" + strings.Join(lines, `\n`) + `\n' | /bbin/cli 2>&1`)
	out = cliPrompt.ReplaceAllString(out, "")
	if err != nil {
		return out, err
	}
	if e := cliErr.FindString(out); e != "" {
		return out, &CLIError{Board: s.B.Name, Lines: lines, Line: e}
	}
	return out, nil
}

// CLIError is an error line of the CLI (as opposed to a shell that did not
// answer).
type CLIError struct {
	Board string
	Lines []string
	Line  string
}

func (e *CLIError) Error() string { return fmt.Sprintf("board %s: %q: %s", e.Board, e.Lines, e.Line) }

// Uptime reads the board's /proc/uptime in seconds (with the shell's
// read builtin: every program the shell starts is the whole busybox,
// which takes a while to start under emulation).
func (s *Shell) Uptime() (float64, error) {
	out, err := s.Run("read u rest < /proc/uptime; echo $u")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return 0, fmt.Errorf("board %s: /proc/uptime: %q", s.B.Name, out)
	}
	return strconv.ParseFloat(f[0], 64)
}

// PIDs returns the process IDs of the program named name, from
// /proc/*/comm with shell builtins (no program started); none is not an
// error.
func (s *Shell) PIDs(name string) ([]int, error) {
	out, err := s.Run(`for d in /proc/[0-9]*; do read c < $d/comm; [ "$c" = ` + name + ` ] && echo ${d#/proc/}; done; true`)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Signal sends sig (kill's -9 or -15) to the one process named prog and
// waits up to timeout until init has started a new one.
func (s *Shell) Signal(prog, sig string, timeout time.Duration) error {
	pids, err := s.PIDs(prog)
	if err != nil {
		return err
	}
	if len(pids) != 1 {
		return fmt.Errorf("board %s: pidof %s: %v, want one process", s.B.Name, prog, pids)
	}
	if _, err := s.Run(fmt.Sprintf("kill %s %d", sig, pids[0])); err != nil {
		return err
	}
	return waitFor(fmt.Sprintf("%s: %s running again", s.B.Name, prog), timeout, time.Second, func() (bool, error) {
		now, err := s.PIDs(prog)
		return err == nil && len(now) == 1 && now[0] != pids[0], err
	})
}
