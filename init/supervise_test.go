package main

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run real child processes under the reaper, which waits for
// any child of the test process: all tests share one reaper, and no other
// test in this package may start processes.
var (
	testReaperOnce sync.Once
	testReaperInst *reaper
)

func testReaper() *reaper {
	testReaperOnce.Do(func() {
		testReaperInst = newReaper(log.New(io.Discard, "", 0))
		go testReaperInst.loop()
	})
	return testReaperInst
}

func TestSupervisorStopsOnExit125(t *testing.T) {
	r := testReaper()
	s := &supervisor{logger: log.New(io.Discard, "", 0), reaper: r, logs: func(string) io.Writer { return io.Discard },
		minBackoff: 10 * time.Millisecond, maxBackoff: 20 * time.Millisecond}
	tests := []struct {
		name         string
		script       string
		wait         time.Duration
		wantRestarts func(int) bool
		wantState    string
	}{
		{"exit 125 is not restarted", "exit 125", 0, func(n int) bool { return n == 0 }, "stopped"},
		{"crash is restarted with backoff", "exit 3", 300 * time.Millisecond, func(n int) bool { return n >= 3 && n < 40 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &service{name: "t", argv: []string{"/bin/sh", "-c", tt.script}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.run(ctx, svc); close(done) }()
			if tt.wait > 0 {
				time.Sleep(tt.wait)
				cancel()
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("supervisor did not return")
			}
			cancel()
			svc.mu.Lock()
			restarts, state := svc.restarts, svc.state
			svc.mu.Unlock()
			if !tt.wantRestarts(restarts) {
				t.Fatalf("%d restarts", restarts)
			}
			if tt.wantState != "" && state != tt.wantState {
				t.Fatalf("state %s, want %s", state, tt.wantState)
			}
		})
	}
}

func TestSupervisorStopsServiceOnCancel(t *testing.T) {
	r := testReaper()
	s := &supervisor{logger: log.New(io.Discard, "", 0), reaper: r, logs: func(string) io.Writer { return io.Discard }}
	svc := &service{name: "sleeper", argv: []string{"/bin/sleep", "60"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx, svc); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !svc.running() {
		if time.Now().After(deadline) {
			t.Fatal("service never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("service not stopped after cancel")
	}
	if svc.running() {
		t.Fatal("still marked running")
	}
}

// TestSupervisorRestartsCrashAtOnce: the first restart after a crash is
// immediate (ikesvc's IKE processing resumes within milliseconds), later
// quick failures wait the backoff.
func TestSupervisorRestartsCrashAtOnce(t *testing.T) {
	r := testReaper()
	s := &supervisor{logger: log.New(io.Discard, "", 0), reaper: r, logs: func(string) io.Writer { return io.Discard },
		minBackoff: 10 * time.Second, maxBackoff: 20 * time.Second}
	starts := filepath.Join(t.TempDir(), "starts")
	svc := &service{name: "crasher", argv: []string{"/bin/sh", "-c", "echo x >> " + starts + "; exit 3"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx, svc); close(done) }()
	count := func() int {
		b, _ := os.ReadFile(starts)
		return strings.Count(string(b), "x")
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	n := count()
	cancel()
	<-done
	if n != 2 {
		t.Fatalf("%d starts, want 2: the first restart at once, the next after the 10 s backoff", n)
	}
}
