package main

import (
	"log"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// Signals to PID 1, as busybox init uses them: the CLI's `reboot` sends
// SIGTERM, `poweroff` sends SIGUSR2.
const (
	rebootSignal   = unix.SIGTERM
	poweroffSignal = unix.SIGUSR2
)

// powerControl ends the system cleanly: every process is asked to stop,
// file systems are synced and the config partition is unmounted before the
// kernel is told to restart or halt.
type powerControl struct {
	logger       *log.Logger
	stopServices func() // asks supervised services to stop, and waits a little
}

func (p *powerControl) watchSignals() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, rebootSignal, poweroffSignal)
	for sig := range sigs {
		switch sig {
		case rebootSignal:
			p.shutdown(unix.LINUX_REBOOT_CMD_RESTART, "reboot")
		case poweroffSignal:
			p.shutdown(unix.LINUX_REBOOT_CMD_POWER_OFF, "power off")
		}
	}
}

func (p *powerControl) shutdown(cmd int, what string) {
	p.logger.Printf("%s: stopping services", what)
	p.stopServices()
	unix.Kill(-1, unix.SIGTERM)
	time.Sleep(2 * time.Second)
	unix.Kill(-1, unix.SIGKILL)
	unix.Sync()
	if err := unix.Unmount("/cfg", 0); err != nil && err != unix.EINVAL {
		p.logger.Printf("%s: unmount /cfg: %v", what, err)
	}
	unix.Sync()
	p.logger.Printf("%s: now", what)
	if err := unix.Reboot(cmd); err != nil {
		p.logger.Printf("%s: %v", what, err)
	}
}
