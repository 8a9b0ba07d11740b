package shell

import (
	"bufio"
	"fmt"
	"io"
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
		t := term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{ctrlCClearsLine{in}, out}, "")
		sh = New(env, t)
		t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
			return sh.onKey(t, line, pos, key)
		}
		lr = &ttyReader{t: t}
	} else {
		sh = New(env, out)
		lr = &pipeReader{in: bufio.NewReader(in), out: out}
	}
	sh.in = lr
	defer sh.Close()
	if err := sh.login(lr); err != nil {
		return err
	}
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

type ttyReader struct{ t *term.Terminal }

func (r *ttyReader) readLine(prompt string) (string, error) {
	r.t.SetPrompt(prompt)
	return r.t.ReadLine()
}

func (r *ttyReader) readPassword(prompt string) (string, error) { return r.t.ReadPassword(prompt) }

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

// ctrlCClearsLine turns Ctrl-C into Ctrl-U: x/term ends ReadLine on
// Ctrl-C as on end of input, but on a router console Ctrl-C should only
// abandon the line being typed, not the login.
type ctrlCClearsLine struct{ r io.Reader }

func (c ctrlCClearsLine) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range p[:n] {
		if p[i] == 3 {
			p[i] = 21
		}
	}
	return n, err
}
