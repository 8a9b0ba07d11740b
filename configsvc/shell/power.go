package shell

import (
	"fmt"
	"syscall"
)

// reboot asks init (PID 1) to restart: SIGTERM is its reboot signal.
func (sh *Shell) reboot(args []string) error {
	return sh.signalInit(syscall.SIGTERM, "rebooting")
}

// poweroff asks init (PID 1) to halt: SIGUSR2 is its power-off signal.
func (sh *Shell) poweroff(args []string) error {
	return sh.signalInit(syscall.SIGUSR2, "powering off")
}

func (sh *Shell) signalInit(sig syscall.Signal, what string) error {
	if sh.env.SignalInit == nil {
		return fmt.Errorf("%s is not available here", what)
	}
	if err := sh.env.SignalInit(sig); err != nil {
		return fmt.Errorf("%s: signalling init: %w", what, err)
	}
	fmt.Fprintf(sh.out, "%s...\n", what)
	return nil
}

func (sh *Shell) logout(args []string) error {
	sh.Close()
	sh.quit = true
	return nil
}

// startShell hands the console to a Unix shell for diagnostics the CLI
// does not offer (ls, ip, dmesg, ps ...).
func (sh *Shell) startShell(args []string) error {
	if sh.env.StartShell == nil {
		return fmt.Errorf("start shell is not available here")
	}
	return sh.env.StartShell()
}
