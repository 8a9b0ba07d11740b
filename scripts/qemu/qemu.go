// Package qemu boots alixsec disk images in qemu-system-i386 and drives
// their serial console the way a person at a terminal would: wait for
// text, type a line, read the answer. Every byte the guest prints is kept,
// so a failing test can show the whole console log.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Config describes one virtual board.
type Config struct {
	Image    string   // disk image booted through its bootloader (never -kernel)
	MemoryMB int      // default 64, as the smallest WRAP
	CPU      string   // default "pentium": no CMOV, no SSE, like a Geode
	Snapshot bool     // write guest disk changes to a temporary overlay
	NoReboot bool     // a guest reboot ends QEMU
	Extra    []string // more QEMU arguments (NICs, debug-exit device)
}

func (c Config) args() []string {
	mem, cpu := c.MemoryMB, c.CPU
	if mem == 0 {
		mem = 64
	}
	if cpu == "" {
		cpu = "pentium"
	}
	drive := "file=" + c.Image + ",format=raw,if=ide"
	args := []string{
		"-cpu", cpu, "-m", fmt.Sprint(mem),
		"-drive", drive,
		"-display", "none", "-monitor", "none", "-serial", "stdio",
	}
	if c.Snapshot {
		args = append(args, "-snapshot")
	}
	if c.NoReboot {
		args = append(args, "-no-reboot")
	}
	if len(c.Extra) == 0 {
		// No NIC unless the test asks for one: nothing leaves the VM.
		args = append(args, "-nic", "none")
	}
	return append(args, c.Extra...)
}

// VM is a running QEMU process with its console.
type VM struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	console *consoleBuffer
	done    chan struct{}
	waitErr error
}

// Start launches QEMU. The VM is stopped when ctx is done or Stop is
// called.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	if _, err := os.Stat(cfg.Image); err != nil {
		return nil, fmt.Errorf("qemu: disk image: %w", err)
	}
	cmd := exec.CommandContext(ctx, "qemu-system-i386", cfg.args()...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	vm := &VM{cmd: cmd, stdin: stdin, console: newConsoleBuffer(), done: make(chan struct{})}
	cmd.Stdout = vm.console
	cmd.Stderr = vm.console
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: start qemu-system-i386 (Debian package qemu-system-x86): %w", err)
	}
	go func() {
		vm.waitErr = cmd.Wait()
		close(vm.done)
		vm.console.close()
	}()
	return vm, nil
}

// Expect waits until the console output after the current read position
// matches re, and returns the submatches. The read position moves past the
// match, so consecutive Expects read the console in order.
func (vm *VM) Expect(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	return vm.console.expect(re, timeout)
}

// ExpectString is Expect for a literal string.
func (vm *VM) ExpectString(s string, timeout time.Duration) error {
	_, err := vm.Expect(regexp.MustCompile(regexp.QuoteMeta(s)), timeout)
	return err
}

// Type sends a line to the console as a person types it: a few characters
// at a time (the guest's UART has a 16-byte FIFO), then Enter.
func (vm *VM) Type(line string) error {
	data := []byte(line + "\r")
	for len(data) > 0 {
		n := min(8, len(data))
		if _, err := vm.stdin.Write(data[:n]); err != nil {
			return fmt.Errorf("qemu: type %q: %w", line, err)
		}
		data = data[n:]
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Log returns everything the console printed so far.
func (vm *VM) Log() string { return vm.console.String() }

// Wait waits for QEMU to exit on its own, at most timeout.
func (vm *VM) Wait(timeout time.Duration) error {
	select {
	case <-vm.done:
		return vm.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("qemu: still running after %s", timeout)
	}
}

// Stop kills QEMU (the power cord, not a shutdown) and waits for it.
func (vm *VM) Stop() {
	select {
	case <-vm.done:
		return
	default:
	}
	vm.cmd.Process.Kill()
	<-vm.done
}

// Exited reports whether QEMU has exited.
func (vm *VM) Exited() bool {
	select {
	case <-vm.done:
		return true
	default:
		return false
	}
}

// consoleBuffer collects console output and lets readers wait for text.
type consoleBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	pos    int // read position of Expect
	closed bool
	wake   chan struct{}
}

func newConsoleBuffer() *consoleBuffer {
	return &consoleBuffer{wake: make(chan struct{})}
}

func (c *consoleBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	close(c.wake)
	c.wake = make(chan struct{})
	return len(p), nil
}

func (c *consoleBuffer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.wake)
		c.wake = make(chan struct{})
	}
}

func (c *consoleBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// ErrExited means QEMU exited before the expected text appeared.
var ErrExited = errors.New("qemu exited")

func (c *consoleBuffer) expect(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		data := c.buf.Bytes()[c.pos:]
		if loc := re.FindSubmatchIndex(data); loc != nil {
			var groups []string
			for i := 0; i < len(loc); i += 2 {
				if loc[i] >= 0 {
					groups = append(groups, string(data[loc[i]:loc[i+1]]))
				} else {
					groups = append(groups, "")
				}
			}
			c.pos += loc[1]
			c.mu.Unlock()
			return groups, nil
		}
		closed, wake := c.closed, c.wake
		c.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("waiting for %q: %w", re, ErrExited)
		}
		select {
		case <-wake:
		case <-deadline.C:
			return nil, fmt.Errorf("waiting for %q: no match after %s", re, timeout)
		}
	}
}

// Tail returns the last n lines of s, for failure messages.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
