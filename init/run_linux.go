package main

import (
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"alixsec/board"
)

// versionFile is written into the initramfs by the image builder.
const versionFile = "/etc/alixsec-version"

// run is the boot sequence. It returns only on a fatal error.
func run(logger *log.Logger) error {
	if os.Getpid() != 1 {
		return fmt.Errorf("must run as PID 1, not PID %d", os.Getpid())
	}
	for _, c := range rootfs() {
		if err := c.Create(); err != nil {
			// A missing optional filesystem must not stop the boot: the
			// console still comes up so an admin can look.
			logger.Printf("rootfs: %s: %v", c, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		logger.Printf("read kernel command line: %v", err)
	}
	boardName := cmdlineValue(string(cmdline), "alixsec.board")
	b, err := board.Lookup(boardName)
	if err != nil {
		logger.Printf("%v; using qemu defaults", err)
		b, _ = board.Lookup("qemu")
	}

	console, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open console: %w", err)
	}
	fmt.Fprintf(console, "\r\nalixsec %s board=%s\r\n", readVersion(), b.Name)
	if up, err := uptime(); err == nil {
		fmt.Fprintf(console, "init: banner at %.3f s after kernel start\r\n", up.Seconds())
	}

	power := &powerControl{logger: logger}
	go power.watchSignals()
	reaper := newReaper(logger)
	shell := &consoleShell{
		logger:  logger,
		reaper:  reaper,
		tty:     "/dev/ttyS0",
		argv:    []string{"/bin/sh"},
		env:     []string{"PATH=/bbin:/bin:/ubin", "HOME=/", "TERM=vt100"},
		backoff: time.Second,
	}
	go shell.run()
	reaper.loop()
	return nil
}

func readVersion() string {
	v, err := os.ReadFile(versionFile)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(v))
}

// cmdlineValue returns the value of key=value on the kernel command line,
// or "" when the key is absent.
func cmdlineValue(cmdline, key string) string {
	for _, f := range strings.Fields(cmdline) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// uptime is the time since the kernel started, from CLOCK_BOOTTIME.
func uptime() (time.Duration, error) {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	var secs float64
	if _, err := fmt.Sscanf(string(data), "%f", &secs); err != nil {
		return 0, fmt.Errorf("parse /proc/uptime %q: %w", data, err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
