package qemu

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Time-outs for a board under TCG emulation (no KVM): generous, because a
// loaded CI machine runs several emulated boards at once.
const (
	BootTimeout    = 180 * time.Second
	CommandTimeout = 90 * time.Second
	SATimeout      = 150 * time.Second // commit to ESTABLISHED, retransmissions included
)

// Board is one booted firmware image that a test drives through its
// console CLI.
type Board struct {
	Name string
	VM   *VM
}

// StartBoard boots image (disk writes go to a throw-away overlay) with the
// given QEMU network arguments. The board is stopped when t ends; when t
// failed, the services' log, dmesg and the whole console log go to the
// test output first.
func StartBoard(t testing.TB, image, name string, netArgs ...string) *Board {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := Start(ctx, Config{Image: image, Snapshot: true, NoReboot: true, Extra: netArgs})
	if err != nil {
		cancel()
		t.Fatalf("board %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() && !vm.Exited() {
			// The services' log says why (ikesvc's IKE and kernel errors).
			_, _ = vm.Command("", 5*time.Second)
			_, _ = vm.Command("exit", 5*time.Second) // in case it is in configuration mode
			_, _ = vm.Command("show log", 30*time.Second)
			_, _ = vm.Command("start shell", 10*time.Second)
			_, _ = vm.Command("dmesg", 30*time.Second)
		}
		vm.Stop()
		cancel()
		if t.Failed() {
			log := vm.Log()
			t.Logf("console log of board %s:\n%s", name, log)
			// Last, so that a log excerpt ending here still shows it.
			if crashes := CrashLines(log, 12); crashes != "" {
				t.Logf("board %s: crash lines in its console log:\n%s", name, crashes)
			}
		}
	})
	return &Board{Name: name, VM: vm}
}

// crashLine matches the first lines Go and the kernel print when a program
// dies: the reason is there, not in the goroutine dump after it.
var crashLine = regexp.MustCompile(`(?m)^.*(?:fatal error: |panic: |runtime: |unexpected fault address|signal SIG[A-Z]+:|: exited: (?:exit status [1-9]|signal)|Kernel panic|Oops: |BUG: ).*$`)

// CrashLines returns up to max lines of console log that tell why a
// service or the kernel died, or "".
func CrashLines(log string, max int) string {
	lines := crashLine.FindAllString(strings.ReplaceAll(log, "\r", ""), max)
	return strings.Join(lines, "\n")
}

// WaitBoot waits for the first CLI prompt.
func (b *Board) WaitBoot() error {
	if _, err := b.VM.Expect(CLIPrompt, BootTimeout); err != nil {
		return fmt.Errorf("board %s: boot: %w", b.Name, err)
	}
	return nil
}

// cliError matches the CLI's error lines ("% ..."); base64, DNs and
// addresses never contain '%', so an echoed long line cannot match.
var cliError = regexp.MustCompile(`(?m)^% .*`)

// Run types one CLI line and returns its output; a CLI error line in the
// output is an error naming the line that caused it.
func (b *Board) Run(line string) (string, error) {
	out, err := b.VM.Command(line, CommandTimeout)
	if err != nil {
		return out, fmt.Errorf("board %s: %w", b.Name, err)
	}
	if e := cliError.FindString(out); e != "" {
		return out, fmt.Errorf("board %s: %.120s: %s", b.Name, line, e)
	}
	return out, nil
}

// Configure enters configuration mode, types lines (set/delete), commits
// with comment and leaves.
func (b *Board) Configure(comment string, lines []string) error {
	if _, err := b.Run("configure"); err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := b.Run(l); err != nil {
			return err
		}
	}
	out, err := b.Run("commit " + comment)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "committed revision") {
		return fmt.Errorf("board %s: commit %s: %s", b.Name, comment, out)
	}
	_, err = b.Run("exit")
	return err
}

// Paste runs a command that asks for PEM text (pki import ...), pastes
// pemText line by line as a terminal sends it, and returns the answer,
// which must report a commit.
func (b *Board) Paste(command, pemText string) (string, error) {
	if err := b.VM.Type(command); err != nil {
		return "", err
	}
	if err := b.VM.ExpectString("Paste the PEM", CommandTimeout); err != nil {
		return "", fmt.Errorf("board %s: %s: %w", b.Name, command, err)
	}
	lines := strings.Split(strings.TrimSpace(pemText), "\n")
	for _, l := range lines[:len(lines)-1] {
		if err := b.VM.Type(l); err != nil {
			return "", err
		}
	}
	out, err := b.Run(lines[len(lines)-1])
	if err != nil {
		return out, fmt.Errorf("%s: %w", command, err)
	}
	if !strings.Contains(out, "committed revision") {
		return out, fmt.Errorf("board %s: %s: no commit:\n%s", b.Name, command, out)
	}
	return out, nil
}

// WaitOutput runs command every interval until want(output) holds, at most
// timeout, and returns the last output; what names the awaited state in
// the error.
func (b *Board) WaitOutput(command, what string, timeout, interval time.Duration, want func(string) bool) (string, error) {
	var out string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(interval) {
		var err error
		if out, err = b.Run(command); err != nil {
			return out, err
		}
		if want(out) {
			return out, nil
		}
	}
	return out, fmt.Errorf("board %s: %s not seen after %v; last %s:\n%s", b.Name, what, timeout, command, out)
}

// WaitSA polls `show ipsec sa` until want(output) holds.
func (b *Board) WaitSA(what string, timeout time.Duration, want func(string) bool) (string, error) {
	return b.WaitOutput("show ipsec sa", what, timeout, 2*time.Second, want)
}

// Established matches, in `show ipsec sa`, an ESTABLISHED IKE SA of peer
// with a CHILD_SA in mode (transport or tunnel; "" for either).
func Established(peer, mode string) *regexp.Regexp {
	m := `\S+`
	if mode != "" {
		m = `(?i:` + regexp.QuoteMeta(mode) + `),`
	}
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(peer) + `: IKE SA ESTABLISHED[^\n]*\n(?:  [^\n]*\n)*?  CHILD_SA ` + m)
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// Ping runs the CLI's ping and returns how many replies came back.
func (b *Board) Ping(addr string, count int) (int, string, error) {
	out, err := b.Run(fmt.Sprintf("ping %s count %d", addr, count))
	if err != nil {
		return 0, out, err
	}
	m := pingStats.FindStringSubmatch(out)
	if m == nil {
		return 0, out, fmt.Errorf("board %s: ping %s printed no statistics:\n%s", b.Name, addr, out)
	}
	var received int
	fmt.Sscan(m[2], &received)
	return received, out, nil
}

// Each runs f for every board at once (typing long PEM lines takes seconds
// per board) and returns the first error.
func Each(boards []*Board, f func(*Board) error) error {
	errs := make([]error, len(boards))
	var wg sync.WaitGroup
	for i, b := range boards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(b)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// PEMBlock finds the PEM block of type typ in console output.
func PEMBlock(out, typ string) (string, error) {
	re := regexp.MustCompile(`(?s)-----BEGIN ` + regexp.QuoteMeta(typ) + `-----\n.*?-----END ` + regexp.QuoteMeta(typ) + `-----`)
	m := re.FindString(strings.ReplaceAll(out, "\r", ""))
	if m == "" {
		return "", fmt.Errorf("no %s PEM block in:\n%s", typ, out)
	}
	return m + "\n", nil
}

// SetLines returns the `set` lines of a set-line text (an alixca bundle's
// config.set).
func SetLines(text string) []string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "set ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// FreeUDPPorts returns n UDP ports on 127.0.0.1 that were free a moment
// ago, for QEMU socket links between boards.
func FreeUDPPorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := UDPPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// UDPPorts is FreeUDPPorts for code outside a test (benchmarks).
func UDPPorts(n int) ([]int, error) {
	var ports []int
	var conns []net.PacketConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free UDP port: %w", err)
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports, nil
}
