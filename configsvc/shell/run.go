package shell

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// maxLoginTries is how many wrong passwords end the login (init starts a
// fresh one, with the delay between tries slowing guessing).
const maxLoginTries = 3

// lineReader abstracts a raw terminal with line editing and a plain pipe.
type lineReader interface {
	readLine(prompt string) (string, error)
	readPassword(prompt string) (string, error)
	// readNewPassword reads a password being set: like readPassword, but
	// Ctrl-C or Ctrl-D on a terminal return errPasswordAborted.
	readNewPassword(prompt string) (string, error)
	// readPasted reads one line of pasted data: no prompt, and kept out
	// of the command history (Up should not scroll through base64).
	readPasted() (string, error)
}

// Run is a whole console login on in/out: the optional password, then
// commands until exit or end of input. interactive says in/out is a
// terminal already in raw mode: then x/term provides line editing,
// history, Tab completion and "?" help. Otherwise lines are read plainly
// and the prompt is still printed, so a test harness can drive it.
func Run(env Env, in io.Reader, out io.Writer, interactive bool) error {
	var lr lineReader
	var sh *Shell
	if interactive {
		sh, lr = newTerminalShell(env, in, out)
	} else {
		sh = New(env, out)
		lr = &pipeReader{in: bufio.NewReader(in), out: out}
	}
	sh.in = lr
	defer sh.Close()
	if err := sh.login(lr); err != nil {
		return err
	}
	return sh.serve(lr)
}

// newTerminalShell makes a shell whose input is x/term's line editor on a
// raw terminal, with Tab completion and "?" help.
func newTerminalShell(env Env, in io.Reader, out io.Writer) (*Shell, *ttyReader) {
	tr := newTTYReader(in, out)
	sh := New(env, tr.t)
	tr.t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		return sh.onKey(tr.t, line, pos, key)
	}
	return sh, tr
}

// serve runs commands read from lr until exit or end of input.
func (sh *Shell) serve(lr lineReader) error {
	sh.certificateHint()
	for !sh.Done() {
		sh.refreshHostname()
		line, err := lr.readLine(sh.Prompt())
		if err == io.EOF {
			fmt.Fprintln(sh.out)
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading console: %w", err)
		}
		sh.Exec(line)
	}
	return nil
}

// onKey handles Tab (complete) and "?" (help) for the terminal.
func (sh *Shell) onKey(t *term.Terminal, line string, pos int, key rune) (string, int, bool) {
	switch key {
	case '\t':
		before, ok := sh.Complete(line[:pos])
		if !ok {
			return line, pos, true
		}
		return before + line[pos:], len(before), true
	case '?':
		if _, ok := helpRequest(line[:pos] + "?"); !ok {
			return "", 0, false // inside quotes: a literal ?
		}
		fmt.Fprintf(t, "%s?\n", sh.Prompt()+line[:pos])
		sh.printHelp(line[:pos])
		return line, pos, true
	}
	return "", 0, false
}

func (sh *Shell) login(lr lineReader) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return fmt.Errorf("reading the console password setting: %w", err)
	}
	hash := snap.Config.System.Console.PasswordHash
	if hash == "" {
		return nil
	}
	for try := 1; try <= maxLoginTries; try++ {
		pw, err := lr.readPassword("Password: ")
		if err != nil {
			return fmt.Errorf("reading password: %w", err)
		}
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil {
			return nil
		}
		fmt.Fprintln(sh.out, "% wrong password")
		sh.env.Sleep(2 * time.Second)
	}
	return fmt.Errorf("login failed after %d tries", maxLoginTries)
}

// historyForgetter is a lineReader with a command history that can drop
// the line just entered (one that held a password).
type historyForgetter interface {
	forgetNewest()
}

type ttyReader struct {
	t       *term.Terminal
	history *consoleHistory
	keys    *consoleKeys
}

// newTTYReader runs x/term's line editor on in/out (a raw terminal), with
// Ctrl-C handling and a history the shell controls.
func newTTYReader(in io.Reader, out io.Writer) *ttyReader {
	keys := &consoleKeys{r: in}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{keys, out}, "")
	h := &consoleHistory{}
	t.History = h
	return &ttyReader{t: t, history: h, keys: keys}
}

func (r *ttyReader) readLine(prompt string) (string, error) {
	r.t.SetPrompt(prompt)
	return r.t.ReadLine()
}

func (r *ttyReader) readPasted() (string, error) {
	r.history.paused, r.keys.abortable = true, true
	defer func() { r.history.paused, r.keys.abortable = false, false }()
	line, err := r.readLine("")
	if err == term.ErrPasteIndicator { // a bracketed paste: just as good
		err = nil
	}
	if strings.HasSuffix(line, pasteAbortLine) {
		return "", errPasteAborted
	}
	return line, err
}

// maxHistory is how many lines Up can recall (x/term's default).
const maxHistory = 100

// consoleHistory is the command history for x/term: it ignores lines
// while paused (pastes, passwords) and can drop the newest line.
type consoleHistory struct {
	entries []string // oldest first
	paused  bool
}

func (h *consoleHistory) Add(entry string) {
	if h.paused {
		return
	}
	if len(h.entries) == maxHistory {
		h.entries = slices.Delete(h.entries, 0, 1)
	}
	h.entries = append(h.entries, entry)
}

func (h *consoleHistory) Len() int { return len(h.entries) }

// At returns the idx-th newest line; 0 is the newest.
func (h *consoleHistory) At(idx int) string { return h.entries[len(h.entries)-1-idx] }

// readPassword reads without echo. x/term keeps no-echo lines out of the
// history already; pausing it keeps that true whatever x/term does.
func (r *ttyReader) readPassword(prompt string) (string, error) {
	r.history.paused = true
	defer func() { r.history.paused = false }()
	return r.t.ReadPassword(prompt)
}

func (r *ttyReader) readNewPassword(prompt string) (string, error) {
	r.keys.abortable = true
	defer func() { r.keys.abortable = false }()
	line, err := r.readPassword(prompt)
	if line == pasteAbortLine {
		return "", errPasswordAborted
	}
	return line, err
}

// forgetNewest drops the line just entered from the history.
func (r *ttyReader) forgetNewest() {
	if n := len(r.history.entries); n > 0 {
		r.history.entries = r.history.entries[:n-1]
	}
}

type pipeReader struct {
	in  *bufio.Reader
	out io.Writer
}

func (r *pipeReader) readLine(prompt string) (string, error) {
	io.WriteString(r.out, prompt)
	line, err := r.in.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	return strings.TrimRight(line, "\r\n"), err
}

func (r *pipeReader) readPassword(prompt string) (string, error) { return r.readLine(prompt) }

func (r *pipeReader) readNewPassword(prompt string) (string, error) { return r.readLine(prompt) }

func (r *pipeReader) readPasted() (string, error) { return r.readLine("") }

// pasteAbortLine is what Ctrl-C or Ctrl-D type while a paste or a new
// password is read; no PEM line contains "!", and it is too short to be a
// password.
const pasteAbortLine = "!abort"

// consoleKeys turns Ctrl-C into Ctrl-U: x/term ends ReadLine on Ctrl-C
// as on end of input (and keeps doing so, as it keeps the key in its
// buffer), but on a router console Ctrl-C should only abandon the line
// being typed, not the login. While a paste or a new password is read,
// Ctrl-C and Ctrl-D type the line pasteAbortLine instead, which ends it.
type consoleKeys struct {
	r         io.Reader
	abortable bool   // set by readers of a paste or new password, on the same goroutine
	pending   []byte // expanded input not yet returned
}

func (c *consoleKeys) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	n, err := c.r.Read(p)
	var expanded []byte
	for i, b := range p[:n] {
		switch {
		case c.abortable && (b == 3 || b == 4):
			if expanded == nil {
				expanded = append([]byte(nil), p[:i]...)
			}
			expanded = append(expanded, "\x15"+pasteAbortLine+"\r"...)
			continue
		case b == 3:
			b = 21
		}
		if expanded != nil {
			expanded = append(expanded, b)
		} else {
			p[i] = b
		}
	}
	if expanded == nil {
		return n, err
	}
	n = copy(p, expanded)
	c.pending = expanded[n:]
	return n, err
}

// certificateHint asks for the board's own certificate when the card was
// preseeded with CAs but no key (the key is to be made on the board): the
// first thing an admin sees after login is what to do next.
func (sh *Shell) certificateHint() {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return
	}
	ip := snap.Config.IPsec
	if ip.Key != "" || ip.Certificate != "" || len(ip.CACertificates) == 0 {
		return
	}
	fmt.Fprintln(sh.out, "IPsec has CAs but no key and certificate yet: `pki generate key NAME`, `pki request NAME`,"+
		" have the CSR signed (alixca issue HOST -csr FILE), then `pki import certificate NAME`.")
}
