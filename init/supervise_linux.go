package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os/exec"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"alixsec.dev/init/fdstore"
)

// exitDontRestart is the exit code with which a service tells init not to
// restart it (as in gokrazy): for example ikesvc with no IPsec configured.
const exitDontRestart = 125

// Restart backoff: the first restart after a stable run (or the first
// ever) is immediate, so a crashed ikesvc is back within milliseconds (its
// SAs stay in the kernel and it continues them from its state file); each
// further quick failure waits minBackoff, doubling up to maxBackoff, and a
// run longer than stableAfter resets it.
const (
	minBackoff  = time.Second
	maxBackoff  = 30 * time.Second
	stableAfter = 10 * time.Second // longer than any start-up: a crash after it is no crash loop
)

// service is one supervised program.
type service struct {
	name string
	argv []string
	env  []string
	// fds, when set, is the service's file descriptor store: what it
	// hands over (its sockets) is passed back on every later start, so
	// a crash or restart does not close them. Dropped when the service
	// is gone for good (exit 125, shutdown).
	fds *fdstore.Store

	mu       sync.Mutex
	pid      int
	restarts int
	state    string // "starting", "running", "backoff", "stopped"
}

// supervisor starts services, restarts them with backoff when they exit,
// and stops them on shutdown.
type supervisor struct {
	logger *log.Logger
	reaper *reaper
	logs   func(source string) io.Writer
	// backoff bounds; zero means minBackoff and maxBackoff.
	minBackoff, maxBackoff time.Duration
}

// run keeps svc running until ctx is done.
func (s *supervisor) run(ctx context.Context, svc *service) {
	lo, hi := s.minBackoff, s.maxBackoff
	if lo == 0 {
		lo, hi = minBackoff, maxBackoff
	}
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		svc.setState("starting", 0)
		started := time.Now()
		status, err := s.runOnce(ctx, svc)
		if err != nil {
			s.logger.Printf("%s: %v", svc.name, err)
		} else {
			s.logger.Printf("%s: exited: %s", svc.name, describeStatus(status))
			if status.Exited() && status.ExitStatus() == exitDontRestart {
				s.dropFDs(svc)
				svc.setState("stopped", 0)
				return
			}
		}
		if time.Since(started) > stableAfter {
			backoff = 0
		}
		svc.setState("backoff", 0)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(max(2*backoff, lo), hi)
		svc.mu.Lock()
		svc.restarts++
		svc.mu.Unlock()
	}
	s.dropFDs(svc)
	svc.setState("stopped", 0)
}

// dropFDs closes what the service's fd store keeps: it is gone for good.
func (s *supervisor) dropFDs(svc *service) {
	if svc.fds == nil || svc.fds.Len() == 0 {
		return
	}
	s.logger.Printf("%s: fd store: closing %v", svc.name, svc.fds.Names())
	svc.fds.Drop()
}

func (s *supervisor) runOnce(ctx context.Context, svc *service) (unix.WaitStatus, error) {
	cmd := exec.Command(svc.argv[0], svc.argv[1:]...)
	cmd.Env = svc.env
	cmd.Dir = "/"
	out := s.logs(svc.name)
	cmd.Stdout, cmd.Stderr = out, out
	// Each service leads its own process group so that stopping it also
	// stops whatever it started.
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	var store *fdstore.Session
	if svc.fds != nil {
		var err error
		if store, err = svc.fds.Begin(); err != nil {
			// The service runs without: it opens its sockets itself.
			s.logger.Printf("%s: %v", svc.name, err)
		} else {
			cmd.ExtraFiles = store.ExtraFiles()
			cmd.Env = slices.Concat(svc.env, store.Env())
			defer func() {
				// What the exited service sent last is read before
				// the next start.
				if err := store.End(time.Second); err != nil {
					s.logger.Printf("%s: %v", svc.name, err)
				}
			}()
		}
	}
	done, err := s.reaper.start(cmd)
	if store != nil {
		store.Started()
	}
	if err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	pid := cmd.Process.Pid
	svc.setState("running", pid)
	select {
	case status := <-done:
		return status, nil
	case <-ctx.Done():
		unix.Kill(-pid, unix.SIGTERM)
		select {
		case status := <-done:
			return status, nil
		case <-time.After(5 * time.Second):
			unix.Kill(-pid, unix.SIGKILL)
			return <-done, nil
		}
	}
}

func (svc *service) setState(state string, pid int) {
	svc.mu.Lock()
	svc.state, svc.pid = state, pid
	svc.mu.Unlock()
}

// running reports whether the service is up now.
func (svc *service) running() bool {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.state == "running"
}

// status describes the service for logs and `show system`.
func (svc *service) status() string {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if svc.pid != 0 {
		return fmt.Sprintf("%s %s pid %d, %d restarts", svc.name, svc.state, svc.pid, svc.restarts)
	}
	return fmt.Sprintf("%s %s, %d restarts", svc.name, svc.state, svc.restarts)
}
