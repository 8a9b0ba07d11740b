package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// consoleShell keeps an interactive program on the serial console,
// restarting it when it exits.
type consoleShell struct {
	logger  *log.Logger
	reaper  *reaper
	tty     string   // e.g. /dev/ttyS0
	argv    []string // program and arguments
	env     []string
	backoff time.Duration // wait before a restart
}

func (c *consoleShell) run() {
	for {
		started := time.Now()
		if err := c.once(); err != nil {
			c.logger.Printf("console %s: %v", c.tty, err)
		}
		// A program that dies at once must not spin the CPU or flood the
		// console.
		if time.Since(started) < c.backoff {
			time.Sleep(c.backoff)
		}
	}
}

func (c *consoleShell) once() error {
	tty, err := os.OpenFile(c.tty, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer tty.Close()
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = c.env
	cmd.Dir = "/"
	// A new session with the tty as controlling terminal gives the shell
	// job control and ^C.
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	done, err := c.reaper.start(cmd)
	if err != nil {
		return fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	status := <-done
	return fmt.Errorf("%s exited: %s", c.argv[0], describeStatus(status))
}

func describeStatus(s unix.WaitStatus) string {
	switch {
	case s.Exited():
		return fmt.Sprintf("exit status %d", s.ExitStatus())
	case s.Signaled():
		return fmt.Sprintf("killed by %v", s.Signal())
	default:
		return fmt.Sprintf("status %#x", uint32(s))
	}
}
