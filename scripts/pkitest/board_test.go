package pkitest

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
	logTimeout     = 60 * time.Second
)

// board is one booted firmware image whose console the test drives
// (helpers adapted from scripts/ipsectest, whose test files are not
// importable).
type board struct {
	name string
	vm   *qemu.VM
}

// startBoard boots image (disk writes to a throw-away overlay) with the
// given QEMU network arguments. The board is stopped when t ends; on
// failure its services' log and whole console log go to the test output.
func startBoard(t *testing.T, image, name string, netArgs ...string) *board {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := qemu.Start(ctx, qemu.Config{Image: image, Snapshot: true, NoReboot: true, Extra: netArgs})
	if err != nil {
		cancel()
		t.Fatalf("board %s: %v", name, err)
	}
	b := &board{name: name, vm: vm}
	t.Cleanup(func() {
		if t.Failed() && !vm.Exited() {
			_, _ = vm.Command("", 5*time.Second)
			_, _ = vm.Command("exit", 5*time.Second) // in case it is in configuration mode
			_, _ = vm.Command("show log", 30*time.Second)
		}
		vm.Stop()
		cancel()
		if t.Failed() {
			t.Logf("console log of board %s:\n%s", name, vm.Log())
		}
	})
	return b
}

func (b *board) waitBoot() error {
	if _, err := b.vm.Expect(qemu.CLIPrompt, bootTimeout); err != nil {
		return fmt.Errorf("board %s: boot: %w", b.name, err)
	}
	return nil
}

// cliError matches the CLI's error lines ("% ..."); base64, DNs and
// addresses never contain '%', so an echoed long line cannot match.
var cliError = regexp.MustCompile(`(?m)^% .*`)

// run types one CLI line and returns its output; a CLI error line fails.
func (b *board) run(line string) (string, error) {
	out, err := b.vm.Command(line, commandTimeout)
	if err != nil {
		return out, fmt.Errorf("board %s: %w", b.name, err)
	}
	if e := cliError.FindString(out); e != "" {
		return out, fmt.Errorf("board %s: %.120s: %s", b.name, line, e)
	}
	return out, nil
}

// configure enters configuration mode, types lines, commits and leaves.
func (b *board) configure(comment string, lines []string) error {
	if _, err := b.run("configure"); err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := b.run(l); err != nil {
			return err
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

// paste runs a pki import command and pastes pemText at its prompt, line
// by line as a terminal sends it, and returns the command's answer.
func (b *board) paste(command, pemText string) (string, error) {
	if err := b.vm.Type(command); err != nil {
		return "", err
	}
	if err := b.vm.ExpectString("Paste the PEM", commandTimeout); err != nil {
		return "", fmt.Errorf("board %s: %s: %w", b.name, command, err)
	}
	lines := strings.Split(strings.TrimSpace(pemText), "\n")
	for _, l := range lines[:len(lines)-1] {
		if err := b.vm.Type(l); err != nil {
			return "", err
		}
	}
	out, err := b.run(lines[len(lines)-1])
	if err != nil {
		return out, fmt.Errorf("%s: %w", command, err)
	}
	if !strings.Contains(out, "committed revision") {
		return out, fmt.Errorf("board %s: %s: no commit:\n%s", b.name, command, out)
	}
	return out, nil
}

// pemBlock finds the PEM block of type typ in console output.
func pemBlock(out, typ string) (string, error) {
	re := regexp.MustCompile(`(?s)-----BEGIN ` + typ + `-----\n.*?-----END ` + typ + `-----`)
	m := re.FindString(strings.ReplaceAll(out, "\r", ""))
	if m == "" {
		return "", fmt.Errorf("no %s PEM block in:\n%s", typ, out)
	}
	return m + "\n", nil
}

// established matches an ESTABLISHED IKE SA of peer with a CHILD_SA.
func established(peer string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(peer) + `: IKE SA ESTABLISHED[^\n]*\n(?:  [^\n]*\n)*?  CHILD_SA `)
}

// waitShow polls `show ipsec sa` until want(output) holds, at most
// timeout, and returns the last output.
func (b *board) waitShow(what string, timeout time.Duration, want func(string) bool) (string, error) {
	var out string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		var err error
		if out, err = b.run("show ipsec sa"); err != nil {
			return out, err
		}
		if want(out) {
			return out, nil
		}
	}
	return out, fmt.Errorf("board %s: %s not seen after %v; last show ipsec sa:\n%s", b.name, what, timeout, out)
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

// each runs f for every board at once and returns the first error.
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

// waitLog polls `show log` until re matches a line, at most logTimeout,
// and returns the log.
func (b *board) waitLog(what string, re *regexp.Regexp) (string, error) {
	var out string
	for deadline := time.Now().Add(logTimeout); time.Now().Before(deadline); time.Sleep(3 * time.Second) {
		var err error
		if out, err = b.run("show log"); err != nil {
			return out, err
		}
		if re.MatchString(out) {
			return out, nil
		}
	}
	return out, fmt.Errorf("board %s: %s: no log line matching %q after %v", b.name, what, re, logTimeout)
}
