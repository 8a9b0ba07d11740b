package shell

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Size is a remote terminal's size in characters.
type Size struct{ Width, Height int }

// RunRemote is an interactive login on a remote terminal (an SSH session
// with a pty): the console CLI, except that there is no console password
// (the SSH key was the login) and each value from resize sets the line
// editor's width and height (window-change).
func RunRemote(env Env, in io.Reader, out io.Writer, resize <-chan Size) error {
	sh, tr := newTerminalShell(env, in, out)
	sh.in = tr
	defer sh.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case sz := <-resize:
				if sz.Width > 0 && sz.Height > 0 {
					tr.t.SetSize(sz.Width, sz.Height)
				}
			case <-done:
				return
			}
		}
	}()
	return sh.serve(tr)
}

// maxLoadBytes bounds `load -`: a config with PEM material is tens of
// KiB; more is a mistake, not a config.
const maxLoadBytes = 4 << 20

// RunCommand runs line as `ssh HOST LINE` does: one or more CLI commands
// separated by ';' or newlines (outside quotes), in one login, so that
// `configure; load -; commit "comment"` loads and commits in one call.
// It stops at the first command that fails and returns that error (the
// exit status); an edit session still open at the end is discarded.
// env.Stdin, when set, is the data of load - and of pasted PEM. Error
// lines go to errOut (nil: out).
func RunCommand(env Env, line string, out, errOut io.Writer) error {
	var in *bufio.Reader
	if env.Stdin != nil {
		in = bufio.NewReader(env.Stdin)
		env.Stdin = in // one buffer for pastes and raw reads alike
	} else {
		in = bufio.NewReader(strings.NewReader(""))
	}
	if errOut == nil {
		errOut = out
	}
	cmds, err := splitCommands(line)
	if err != nil {
		fmt.Fprintf(errOut, "%% %v\n", err)
		return err
	}
	sh := New(env, out)
	sh.errs = errOut
	sh.in = &pipeReader{in: in, out: out}
	defer sh.Close()
	for _, c := range cmds {
		if err := sh.Exec(c); err != nil {
			return err
		}
		if sh.Done() {
			break
		}
	}
	if sh.mode == modeConfiguration {
		return sh.exitConfig(nil)
	}
	return nil
}

// splitCommands splits a command line at ';' and newlines that are not
// inside quotes or a '#' comment, dropping empty commands.
func splitCommands(line string) ([]string, error) {
	var cmds []string
	start, inWord := 0, false
	add := func(end int) {
		if c := strings.TrimSpace(line[start:end]); c != "" {
			cmds = append(cmds, c)
		}
		start, inWord = end+1, false
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == ';' || c == '\n':
			add(i)
		case c == ' ' || c == '\t' || c == '\r':
			inWord = false
		case c == '#' && !inWord:
			end := strings.IndexByte(line[i:], '\n')
			if end < 0 {
				i = len(line) - 1
			} else {
				i += end - 1 // the newline ends the command next round
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("column %d: unterminated single quote", i+1)
			}
			i, inWord = i+1+end, true
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
				}
			}
			if j >= len(line) {
				return nil, fmt.Errorf("column %d: unterminated double quote", i+1)
			}
			i, inWord = j, true
		default:
			inWord = true
		}
	}
	add(len(line))
	return cmds, nil
}

// loadStdin replaces the candidate with the set lines on standard input.
func (sh *Shell) loadStdin() error {
	if sh.env.Stdin == nil {
		return fmt.Errorf("load -: no standard input here; from a host: ssh HOST 'configure; load -; commit COMMENT' < FILE")
	}
	b, err := io.ReadAll(io.LimitReader(sh.env.Stdin, maxLoadBytes+1))
	if err != nil {
		return fmt.Errorf("load -: reading standard input: %w", err)
	}
	if len(b) > maxLoadBytes {
		return fmt.Errorf("load -: more than %d bytes on standard input", maxLoadBytes)
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.sess.Load(ctx, string(b)); err != nil {
		return fmt.Errorf("load -: %w", err)
	}
	fmt.Fprintf(sh.out, "candidate replaced from standard input (%d bytes); compare, then commit\n", len(b))
	return nil
}
