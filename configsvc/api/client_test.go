package api_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/internal/testserver"
)

func dial(t *testing.T, sock string) *api.Client {
	t.Helper()
	c, err := api.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRunningAndWaitCommit(t *testing.T) {
	srv := testserver.Start(t, "qemu")
	ctx := context.Background()
	sub := dial(t, srv.Socket)
	snap, err := sub.Running(ctx)
	if err != nil || snap.Revision != 1 || snap.Config.Interfaces["eth0"].Addresses[0].String() != "10.99.0.1/24" {
		t.Fatalf("Running = %+v, %v", snap, err)
	}

	got := make(chan *api.Snapshot, 1)
	go func() {
		s, err := sub.WaitCommit(ctx, 1)
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	select {
	case s := <-got:
		t.Fatalf("WaitCommit returned before any commit: %+v", s)
	case <-time.After(100 * time.Millisecond):
	}

	ed := dial(t, srv.Socket)
	sess, err := ed.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Set(ctx, []string{"system", "hostname", "gw9"}); err != nil {
		t.Fatal(err)
	}
	if n, err := sess.Commit(ctx, "rename"); err != nil || n != 2 {
		t.Fatalf("Commit = %d, %v", n, err)
	}
	select {
	case s := <-got:
		if s.Revision != 2 || s.Config.System.Hostname != "gw9" || s.Comment != "rename" {
			t.Errorf("WaitCommit = rev %d host %q comment %q", s.Revision, s.Config.System.Hostname, s.Comment)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitCommit did not return after a commit")
	}
	// Already newer: returns at once.
	s, err := sub.WaitCommit(ctx, 0)
	if err != nil || s.Revision != 2 {
		t.Errorf("WaitCommit(0) = %v, %v", s, err)
	}
	// Cancellable.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := sub.WaitCommit(cctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitCommit with expired ctx = %v", err)
	}
}

func TestErrorCodes(t *testing.T) {
	srv := testserver.Start(t, "qemu")
	ctx := context.Background()
	c := dial(t, srv.Socket)
	a, err := c.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		code api.Code
		msg  string
	}{
		{"bad value", func() error { return a.Set(ctx, []string{"interfaces", "eth0", "mtu", "70000"}) }, api.CodeInvalid, "interfaces eth0 mtu 70000: must be 576..9000"},
		{"not set", func() error { return a.Delete(ctx, []string{"system", "time-zone"}) }, api.CodeNotSet, "system time-zone: not set"},
		{"no revision", func() error { return a.Rollback(ctx, 77) }, api.CodeNotFound, "revision 77: not found (kept: 1..1)"},
		{"invalid commit", func() error {
			if err := a.Set(ctx, []string{"routes", "10.0.0.0/8"}); err != nil {
				return err
			}
			_, err := a.Commit(ctx, "")
			return err
		}, api.CodeInvalid, "routes 10.0.0.0/8: needs next-hop or interface"},
		{"stale", func() error {
			if err := a.Discard(ctx); err != nil {
				return err
			}
			if _, err := a.Commit(ctx, "first"); err != nil {
				return err
			}
			_, err := b.Commit(ctx, "second")
			return err
		}, api.CodeStale, "based on revision 1, but revision 2 was committed meanwhile"},
		{"closed session", func() error {
			if err := b.Close(ctx); err != nil {
				return err
			}
			return b.Set(ctx, []string{"system", "hostname", "x"})
		}, api.CodeNotFound, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) {
				t.Errorf("got %#v, want code %v containing %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestDialMissingSocket(t *testing.T) {
	_, err := api.Dial("/nonexistent/configsvc.sock")
	if !api.IsCode(err, api.CodeUnavailable) {
		t.Errorf("Dial(missing) = %v, want CodeUnavailable", err)
	}
}
