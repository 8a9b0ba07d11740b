package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/store"
)

func start(t *testing.T) (*Server, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "srv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	def, _ := model.Default("qemu")
	st, err := store.Create(filepath.Join(dir, "c.db"), def, "", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := New(st, t.Logf)
	go s.Serve(l)
	t.Cleanup(func() { l.Close(); st.Close() })
	return s, sock
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 200 && !cond(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !cond() {
		t.Fatal("condition not reached")
	}
}

func TestSessionsEndWithTheirConnection(t *testing.T) {
	s, sock := start(t)
	ctx := context.Background()
	a, err := api.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	b, err := api.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range []*api.Client{a, a, b} {
		if _, err := c.OpenSession(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.SessionCount(); n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
	a.Close()
	waitFor(t, func() bool { return s.SessionCount() == 1 })
}

func TestTooManySessions(t *testing.T) {
	s, sock := start(t)
	ctx := context.Background()
	c, err := api.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < MaxSessions; i++ {
		if _, err := c.OpenSession(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.OpenSession(ctx); !api.IsCode(err, api.CodeBusy) {
		t.Fatalf("session %d: %v, want CodeBusy", MaxSessions+1, err)
	}
	// Idle sessions make room.
	s.now = func() time.Time { return time.Now().Add(2 * SessionIdle) }
	if _, err := c.OpenSession(ctx); err != nil {
		t.Errorf("with idle sessions: %v", err)
	}
}

func TestWaitTimesOutWithCurrentRevision(t *testing.T) {
	s, _ := start(t)
	start := time.Now()
	r, err := s.waitAfter(1, 50*time.Millisecond)
	if err != nil || r.Number != 1 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("waitAfter = %v, %v after %v", r, err, time.Since(start))
	}
}

func TestEveryServiceMethodIsServed(t *testing.T) {
	var want []string
	typ := reflect.TypeOf(&Service{})
	for i := 0; i < typ.NumMethod(); i++ {
		want = append(want, api.ServiceName+"."+typ.Method(i).Name)
	}
	got := (&Service{}).mux().Names()
	if !slices.Equal(got, want) {
		t.Fatalf("served methods %v, exported Service methods %v", got, want)
	}
}

// TestFollowersSeeEveryCommit is init's and ikesvc's use of the API: each
// follows the running revision with WaitCommit on its own connection
// while an admin commits in quick succession from a third; every follower
// must reach the last revision, and never see one go backwards.
func TestFollowersSeeEveryCommit(t *testing.T) {
	_, sock := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const commits = 60
	results := make(chan error, 3)
	for f := 0; f < 3; f++ {
		c, err := api.Dial(sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			var applied uint64
			for {
				snap, err := c.WaitCommit(ctx, applied)
				if err != nil {
					results <- fmt.Errorf("follower at revision %d: %w", applied, err)
					return
				}
				if snap.Revision <= applied {
					results <- fmt.Errorf("revision went from %d to %d", applied, snap.Revision)
					return
				}
				applied = snap.Revision
				if applied == 1+commits {
					results <- nil
					return
				}
			}
		}()
	}
	admin, err := api.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	se, err := admin.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < commits; i++ {
		if err := se.Set(ctx, []string{"system", "description", fmt.Sprintf("commit-%d", i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := se.Commit(ctx, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for f := 0; f < 3; f++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}
