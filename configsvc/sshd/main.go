// Command sshd is the board's SSH server: the console CLI over the
// network, for holders of a key in `system ssh authorized-key`. It
// follows configsvc's running config (listening only while a key is
// set) and host key, and runs the CLI in-process for each session.
//
//	sshd -socket /run/configsvc.sock
//
// Public-key authentication only; failed logins are logged with source,
// user and key fingerprints and slowed per source (ratelimit.go). An
// interactive session (pty + shell) is the console CLI; an exec request
// runs CLI commands separated by ';' and its exit status says whether
// they succeeded (0), a command failed (1), or the CLI could not run (2).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/shell"
	"alixsec.dev/firmware/ab"
	"alixsec.dev/init/svclog"
)

// shutdownGrace is how long sshd lets open connections end by themselves
// once it is told to stop.
const shutdownGrace = 2 * time.Second

func main() {
	logger := svclog.New(os.Stderr, "sshd", os.Getenv)
	if err := run(os.Args[1:], logger); err != nil {
		logger.Fatal(err)
	}
}

func run(args []string, logger *log.Logger) error {
	fs := flag.NewFlagSet("sshd", flag.ContinueOnError)
	socket := fs.String("socket", api.DefaultSocket, "configsvc API socket")
	ikeSocket := fs.String("ikesvc-socket", shell.DefaultIKESocket, "ikesvc control socket (show ipsec sa)")
	logSocket := fs.String("log-socket", shell.DefaultLogSocket, "log ring socket (show log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv := newServer(logger.Printf)
	cli := &cliRunner{
		socket: *socket, ikeSocket: *ikeSocket, logSocket: *logSocket, version: shell.FirmwareVersion(),
		signalInit: func(sig syscall.Signal) error { return syscall.Kill(1, sig) },
		firmware:   ab.BoardFirmware{},
	}
	srv.session = cli.run
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	follow(ctx, *socket, srv, logger.Printf)
	// init waits 5 s for a service to stop before SIGKILL.
	srv.Shutdown(shutdownGrace)
	return nil
}

// follow applies the running config and host key, then each new
// revision, reconnecting to configsvc when it restarts, until ctx ends.
func follow(ctx context.Context, socket string, srv *Server, logf func(string, ...any)) {
	said := ""
	for ctx.Err() == nil {
		err := followOnce(ctx, socket, srv, logf)
		if ctx.Err() != nil {
			return
		}
		if msg := err.Error(); msg != said { // one line per distinct failure, not one a second
			logf("%v; retrying", err)
			said = msg
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func followOnce(ctx context.Context, socket string, srv *Server, logf func(string, ...any)) error {
	c, err := api.Dial(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	snap, err := c.Running(ctx)
	for err == nil {
		var key []byte
		var fp string
		key, fp, err = c.HostKey(ctx)
		if err != nil {
			break
		}
		if aerr := srv.Apply(&snap.Config.System.SSH, key); aerr != nil {
			logf("revision %d: %v", snap.Revision, aerr)
		}
		if snap.Config.System.SSH.Enabled() {
			logf("revision %d: on, host key %s", snap.Revision, fp)
		} else {
			logf("revision %d: off (no authorized key), host key %s", snap.Revision, fp)
		}
		snap, err = c.WaitCommit(ctx, snap.Revision)
	}
	return fmt.Errorf("following configsvc: %w", err)
}
