package ipsectest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/scripts/qemu"
)

// Time-outs for a board under TCG emulation (no KVM): generous, because a
// loaded CI machine runs several emulated boards at once.
const (
	bootTimeout    = 180 * time.Second
	commandTimeout = 90 * time.Second
	saTimeout      = 150 * time.Second
)

// board is one booted firmware image whose console the test drives.
type board struct {
	name string
	vm   *qemu.VM
}

// startBoard boots out/qemu.img (disk writes to a throw-away overlay) with
// the given QEMU network arguments. The board is stopped when t ends; on
// failure its whole console log goes to the test output.
func startBoard(t *testing.T, name string, netArgs ...string) *board {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := qemu.Start(ctx, qemu.Config{Image: imagePath, Snapshot: true, NoReboot: true, Extra: netArgs})
	if err != nil {
		cancel()
		t.Fatalf("board %s: %v", name, err)
	}
	b := &board{name: name, vm: vm}
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
			t.Logf("console log of board %s:\n%s", name, vm.Log())
		}
	})
	return b
}

// waitBoot waits for the first CLI prompt.
func (b *board) waitBoot() error {
	if _, err := b.vm.Expect(qemu.CLIPrompt, bootTimeout); err != nil {
		return fmt.Errorf("board %s: boot: %w", b.name, err)
	}
	return nil
}

// run types one CLI line and returns its output.
func (b *board) run(line string) (string, error) {
	out, err := b.vm.Command(line, commandTimeout)
	if err != nil {
		return out, fmt.Errorf("board %s: %w", b.name, err)
	}
	return out, nil
}

// cliError matches the CLI's error lines ("% ..."); base64, DNs and
// addresses never contain '%', so an echoed long line cannot match.
var cliError = regexp.MustCompile(`(?m)^% .*`)

// configure enters configuration mode, types lines (set/delete), commits
// and leaves; any CLI error fails with the line that caused it.
func (b *board) configure(comment string, lines []string) error {
	if _, err := b.run("configure"); err != nil {
		return err
	}
	for _, l := range lines {
		out, err := b.run(l)
		if err != nil {
			return err
		}
		if e := cliError.FindString(out); e != "" {
			return fmt.Errorf("board %s: %.120s: %s", b.name, l, e)
		}
	}
	out, err := b.run("commit " + comment)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "committed revision") {
		return fmt.Errorf("board %s: commit %s: %s", b.name, comment, out)
	}
	_, err = b.run("exit")
	return err
}

// waitSA polls `show ipsec sa` until peer's IKE SA is ESTABLISHED with a
// CHILD_SA in mode, and returns the output.
func (b *board) waitSA(peer, mode string) (string, error) {
	want := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(peer) + `: IKE SA ESTABLISHED[^\n]*\n(?:  [^\n]*\n)*?  CHILD_SA (?i:` + mode + `),`)
	var out string
	for deadline := time.Now().Add(saTimeout); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		var err error
		if out, err = b.run("show ipsec sa"); err != nil {
			return out, err
		}
		if want.MatchString(out) {
			return out, nil
		}
	}
	return out, fmt.Errorf("board %s: no ESTABLISHED IKE SA %s with a %s CHILD_SA after %v; last show ipsec sa:\n%s",
		b.name, peer, mode, saTimeout, out)
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// ping runs the CLI's ping and returns how many replies came back.
func (b *board) ping(addr string, count int) (int, string, error) {
	out, err := b.run(fmt.Sprintf("ping %s count %d", addr, count))
	if err != nil {
		return 0, out, err
	}
	m := pingStats.FindStringSubmatch(out)
	if m == nil {
		return 0, out, fmt.Errorf("board %s: ping %s printed no statistics:\n%s", b.name, addr, out)
	}
	var received int
	fmt.Sscan(m[2], &received)
	return received, out, nil
}

// each runs f for every board at once (typing long PEM lines takes
// seconds per board) and returns the first error.
func each(boards []*board, f func(*board) error) error {
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

// setLines returns the `set` lines of an alixca bundle's config.set.
func setLines(configSet string) []string {
	var lines []string
	for _, l := range strings.Split(configSet, "\n") {
		if strings.HasPrefix(l, "set ") {
			lines = append(lines, l)
		}
	}
	return lines
}
