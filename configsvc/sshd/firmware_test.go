package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"alixsec.dev/firmware/updfile"
)

// fakeFirmware records what an upgrade read and which slot a rollback
// armed.
type fakeFirmware struct {
	mu       sync.Mutex
	got      []byte
	rollback bool
}

func (f *fakeFirmware) Upgrade(ctx context.Context, r io.Reader, extra []updfile.PublicKey, progress io.Writer) (string, error) {
	data, err := io.ReadAll(r)
	f.mu.Lock()
	f.got = data
	f.mu.Unlock()
	fmt.Fprintf(progress, "verified %d bytes\n", len(data))
	return "v9.9.9", err
}

func (f *fakeFirmware) Rollback() (string, error) {
	f.mu.Lock()
	f.rollback = true
	f.mu.Unlock()
	return "a", nil
}

func (f *fakeFirmware) Status() ([]string, error) {
	return []string{"firmware:  slot b running v9.8.7, boot default slot b"}, nil
}

// TestUpgradeAndRollbackOverSSH: `ssh BOARD request system upgrade - <
// FILE` hands the whole binary stdin to the firmware and `request system
// rollback` reaches it too; both signal init to reboot, and the exit
// status 0 reaches the client although the reboot's SIGTERM to sshd
// comes before the command's session has ended (Shutdown's grace).
func TestUpgradeAndRollbackOverSSH(t *testing.T) {
	f := start(t)
	fw := &fakeFirmware{}
	var signals []syscall.Signal
	var mu sync.Mutex
	cli := &cliRunner{socket: f.cfg.Socket, version: "v9.8.7", firmware: fw,
		signalInit: func(sig syscall.Signal) error {
			mu.Lock()
			signals = append(signals, sig)
			mu.Unlock()
			// init stops sshd at once (SIGTERM); the session's exit
			// status is still to be sent.
			go f.srv.Shutdown(2 * time.Second)
			time.Sleep(200 * time.Millisecond)
			return nil
		}}
	f.srv.session = cli.run
	f.authorize(t)

	update := make([]byte, 3<<20)
	rand.Read(update)
	c := f.login(t)
	out, status := execStatus(t, c, "request system upgrade -", string(update))
	if status != 0 || !strings.Contains(out, "verified 3145728 bytes") || !strings.Contains(out, "upgrade to v9.9.9 installed") || !strings.Contains(out, "rebooting...") {
		t.Fatalf("request system upgrade -: exit %d:\n%s", status, out)
	}
	fw.mu.Lock()
	same := bytes.Equal(fw.got, update)
	fw.mu.Unlock()
	if !same {
		t.Fatalf("the firmware read %d bytes, not the %d sent on stdin (or other bytes)", len(fw.got), len(update))
	}

	// sshd listens again (a test server outlives its Shutdown: commit).
	f.commitKey(t, "admin", f.user.PublicKey())
	f.commit(t, "set system description again")
	c = f.login(t)
	out, status = execStatus(t, c, "request system rollback", "")
	if status != 0 || !strings.Contains(out, "the next boot tries slot a once") || !strings.Contains(out, "rebooting...") {
		t.Fatalf("request system rollback: exit %d:\n%s", status, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if !fw.rollback || len(signals) != 2 || signals[0] != syscall.SIGTERM || signals[1] != syscall.SIGTERM {
		t.Fatalf("rollback armed %v, init signalled %v; want a rollback and two SIGTERMs", fw.rollback, signals)
	}
}

// TestShutdownEndsIdleConnections: Shutdown stops listening and ends a
// connection that does not end by itself once the grace is over.
func TestShutdownEndsIdleConnections(t *testing.T) {
	f := start(t)
	f.authorize(t)
	c := f.login(t)
	if _, status := execStatus(t, c, "show version", ""); status != 0 { // the server has the connection now
		t.Fatalf("show version: exit %d", status)
	}
	begin := time.Now()
	f.srv.Shutdown(300 * time.Millisecond)
	if d := time.Since(begin); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Shutdown took %v with one idle connection, want the 300 ms grace", d)
	}
	if _, _, err := c.SendRequest("keepalive@test", true, nil); err == nil {
		t.Fatal("the connection is still open after Shutdown")
	}
	if _, err := f.dial(t, ssh.PublicKeys(f.user)); err == nil {
		t.Fatal("a new login succeeded after Shutdown")
	}
}
