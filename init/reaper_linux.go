package main

import (
	"errors"
	"log"
	"os/exec"
	"sync"

	"golang.org/x/sys/unix"
)

// reaper is PID 1's single wait loop. Every child, started by init or
// orphaned and re-parented to it, is reaped here; children that init
// started are reported to whoever started them. One loop avoids the race
// between exec.Cmd.Wait and a wait4(-1) reaper stealing each other's
// exit statuses.
type reaper struct {
	logger *log.Logger

	mu      sync.Mutex
	waiters map[int]chan unix.WaitStatus
}

func newReaper(logger *log.Logger) *reaper {
	return &reaper{logger: logger, waiters: make(map[int]chan unix.WaitStatus)}
}

// start starts cmd and returns a channel that receives its exit status.
// The caller must not call cmd.Wait.
func (r *reaper) start(cmd *exec.Cmd) (<-chan unix.WaitStatus, error) {
	// Holding the lock across Start means the loop cannot reap the child
	// before its waiter is registered.
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	r.waiters[cmd.Process.Pid] = ch
	return ch, nil
}

// loop reaps children forever.
func (r *reaper) loop() {
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// ECHILD: no children at the moment. Wait for one to appear
			// without spinning.
			unix.Nanosleep(&unix.Timespec{Sec: 0, Nsec: 100_000_000}, nil)
			continue
		}
		r.mu.Lock()
		ch, ok := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if ok {
			ch <- status
		}
	}
}
