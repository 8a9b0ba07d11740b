// Command cli is the router-style console CLI. It talks to configsvc over
// its unix socket; init starts it on the serial console.
//
//	cli -socket /run/configsvc.sock
//
// On a terminal it switches the tty to raw mode for line editing, history,
// Tab completion and "?" help; on a pipe it reads plain lines.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/term"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/shell"
	"alixsec.dev/firmware/ab"
	"alixsec.dev/ikesvc/kernel"
)

func main() {
	if err := run(os.Stdin, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "cli: %v\n", err)
		os.Exit(1)
	}
}

func run(stdin *os.File, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("cli", flag.ContinueOnError)
	socket := fs.String("socket", api.DefaultSocket, "configsvc API socket")
	ikeSocket := fs.String("ikesvc-socket", shell.DefaultIKESocket, "ikesvc control socket (show ipsec sa)")
	logSocket := fs.String("log-socket", shell.DefaultLogSocket, "log ring socket (show log)")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for configsvc at start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dial := func() (*api.Client, error) { return api.Dial(*socket) }
	client, err := dialWithRetry(dial, *wait, stdout)
	if err != nil {
		return err
	}
	defer client.Close()
	env := shell.Env{
		Client:     client,
		Dial:       dial,
		IKESocket:  *ikeSocket,
		LogSocket:  *logSocket,
		Version:    shell.FirmwareVersion(),
		SignalInit: func(sig syscall.Signal) error { return syscall.Kill(1, sig) },
		Firmware:   ab.BoardFirmware{},
		// The console runs as root in the board's namespace: it reads the
		// kernel's tables itself, so they show even with ikesvc down.
		KernelTable: kernel.WriteTable,
	}
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		env.StartShell = func() error { return runShell(stdin, stdout) }
		return shell.Run(env, stdin, stdout, false)
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return fmt.Errorf("switching console to raw mode: %w", err)
	}
	defer term.Restore(fd, old)
	env.StartShell = func() error {
		// The shell gets the terminal as it was before raw mode, and the
		// CLI takes it back afterwards.
		if err := term.Restore(fd, old); err != nil {
			return err
		}
		defer term.MakeRaw(fd)
		return runShell(stdin, stdout)
	}
	return shell.Run(env, stdin, stdout, true)
}

// runShell runs the console shell until the admin leaves it with exit.
func runShell(stdin *os.File, stdout io.Writer) error {
	cmd := exec.Command("/bin/sh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stdout
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil // the shell's own exit status is not the CLI's error
		}
		return fmt.Errorf("shell: %w", err)
	}
	return nil
}

// dialWithRetry waits for configsvc, which init may still be starting.
func dialWithRetry(dial func() (*api.Client, error), wait time.Duration, out io.Writer) (*api.Client, error) {
	start := time.Now()
	deadline := start.Add(wait)
	said := false
	for {
		c, err := dial()
		if err == nil {
			return c, nil
		}
		// configsvc starts beside the CLI at boot: only a wait longer
		// than a boot's is worth a line. It comes before the deadline
		// check, so a wait that ends in failure always said why.
		if !said && time.Since(start) >= min(5*time.Second, wait/2) {
			fmt.Fprintf(out, "waiting for configsvc: %v\n", err)
			said = true
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
