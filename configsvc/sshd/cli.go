package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/shell"
)

// maxScript bounds a shell session without a terminal, whose standard
// input is a script of CLI lines (ssh HOST < script.cli).
const maxScript = 1 << 20

// cliRunner runs the CLI in-process for a session, with its own
// connection to configsvc so that an edit session ends with the SSH
// session.
type cliRunner struct {
	socket    string
	ikeSocket string
	logSocket string
	version   string
	// signalInit is kill(1, sig) for reboot and poweroff.
	signalInit func(sig syscall.Signal) error
	// firmware is request system upgrade/rollback and the slots in show
	// system (ab.BoardFirmware on the board), as on the console.
	firmware shell.Firmware
}

func (r *cliRunner) env() (shell.Env, error) {
	dial := func() (*api.Client, error) { return api.Dial(r.socket) }
	c, err := dial()
	if err != nil {
		return shell.Env{}, err
	}
	return shell.Env{
		Client:     c,
		Dial:       dial,
		IKESocket:  r.ikeSocket,
		LogSocket:  r.logSocket,
		Version:    r.version,
		SignalInit: r.signalInit,
		Firmware:   r.firmware,
	}, nil
}

// run is a session's program: the interactive CLI on a pty, or the
// commands of an exec request (or of a script on stdin), whose success
// becomes the exit status.
func (r *cliRunner) run(ctx context.Context, req *cliRequest) uint32 {
	out, errOut := req.Out, req.Err
	if req.Pty {
		// One terminal: errors appear in order with the output.
		errOut = out
		if req.Exec {
			out = crlfWriter{w: out}
			errOut = out
		}
	}
	env, err := r.env()
	if err != nil {
		fmt.Fprintf(out, "%% %v\n", err)
		return exitError
	}
	defer func() { env.Client.Close() }()
	switch {
	case req.Exec:
		env.Stdin = req.In
		return statusOf(shell.RunCommand(env, req.Command, out, errOut))
	case req.Pty:
		if err := shell.RunRemote(env, req.In, out, req.Resize); err != nil && !errors.Is(err, io.EOF) {
			return exitError
		}
		return exitOK
	default:
		script, err := io.ReadAll(io.LimitReader(req.In, maxScript+1))
		if err != nil || len(script) > maxScript {
			fmt.Fprintf(out, "%% reading the script on standard input: at most %d bytes\n", maxScript)
			return exitError
		}
		return statusOf(shell.RunCommand(env, string(script), out, errOut))
	}
}

func statusOf(err error) uint32 {
	switch {
	case err == nil:
		return exitOK
	case api.IsCode(err, api.CodeUnavailable):
		return exitError
	}
	return exitFailed
}

// crlfWriter turns \n into \r\n for an exec request with a pty (ssh -t),
// whose terminal is in raw mode on the client.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, strings.ReplaceAll(string(p), "\n", "\r\n")); err != nil {
		return 0, err
	}
	return len(p), nil
}
