package imagetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"alixsec.dev/scripts/qemu"
)

// board is a QEMU board with a writable copy of a CF image, booted as
// often as a test needs, like a real board across reboots.
type board struct {
	t     *testing.T
	disk  string
	vm    *qemu.VM
	stop  context.CancelFunc
	boots int
}

// newBoard copies out/<image> so the test can write to it.
func newBoard(t *testing.T, image string) *board {
	t.Helper()
	src := artifact(t, image)
	disk := filepath.Join(t.TempDir(), image)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	b := &board{t: t, disk: disk}
	t.Cleanup(func() {
		b.kill()
	})
	return b
}

// boot starts the board and waits for the CLI prompt, returning the host
// name it shows.
func (b *board) boot() string {
	b.t.Helper()
	b.kill()
	ctx, cancel := context.WithCancel(context.Background())
	vm, err := qemu.Start(ctx, qemu.Config{
		Image:    b.disk,
		NoReboot: true,
		// An e1000 NIC on an isolated user network: eth0 exists, nothing
		// leaves the VM.
		Extra: []string{"-netdev", "user,id=lan,restrict=on", "-device", "e1000,netdev=lan"},
	})
	if err != nil {
		cancel()
		b.t.Fatal(err)
	}
	b.vm, b.stop = vm, cancel
	b.boots++
	boot := b.boots
	b.t.Cleanup(func() {
		if b.t.Failed() {
			if !vm.Exited() {
				// The services log to init's RAM ring, not the console.
				_, _ = vm.Command("", 5*time.Second)
				_, _ = vm.Command("exit", 5*time.Second) // in case it is in configuration mode
				_, _ = vm.Command("show log", 30*time.Second)
			}
			b.t.Logf("console log of boot %d:\n%s", boot, vm.Log())
			if c := qemu.CrashLines(vm.Log(), 12); c != "" {
				b.t.Logf("crash lines in the console log of boot %d:\n%s", boot, c)
			}
		}
	})
	m, err := vm.Expect(qemu.CLIPrompt, bootTimeout)
	if err != nil {
		b.t.Fatalf("boot %d: CLI prompt: %v", boot, err)
	}
	return m[1]
}

// kill pulls the power cord.
func (b *board) kill() {
	if b.vm != nil {
		b.vm.Stop()
		b.stop()
		b.vm = nil
	}
}

// run types a command line and returns what the CLI printed before the
// next prompt (operational "> " or configuration "# ").
func (b *board) run(line string) string {
	b.t.Helper()
	out, err := b.vm.Command(line, bootTimeout)
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// sectorsWritten reads the CF card's write counter from `show system`.
func (b *board) sectorsWritten() int {
	b.t.Helper()
	n, err := b.vm.SectorsWritten(bootTimeout)
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

// TestCLICommitRebootRollback drives the console as an admin would:
// configure, set a host name and an address, commit, reboot; the settings
// survive the reboot; rollback to revision 1 restores the old address.
func TestCLICommitRebootRollback(t *testing.T) {
	b := newBoard(t, "qemu.img")
	if host := b.boot(); host != "alixsec" {
		t.Fatalf("first boot prompt %q, want the default alixsec", host)
	}
	if err := loopbackUp(b.run("show interfaces")); err != nil {
		t.Fatal(err)
	}
	if err := singleStamped(b.run("show log")); err != nil {
		t.Error(err)
	}
	hostKey := consoleHostKey.FindStringSubmatch(b.vm.Log()) // made on this first boot
	if hostKey == nil {
		t.Fatal("the first boot did not show the ssh host key")
	}
	b.run("configure")
	for _, line := range []string{"set system hostname bartest", "set interfaces eth0 address 10.99.0.5/24"} {
		if out := b.run(line); strings.TrimSpace(out) != "" {
			t.Fatalf("%q: %s", line, out)
		}
	}
	if out := b.run("commit first change"); !strings.Contains(out, "committed revision 2") {
		t.Fatalf("commit: %s", out)
	}
	b.run("exit")
	if err := b.vm.Type("reboot"); err != nil {
		t.Fatal(err)
	}
	if err := b.vm.Wait(bootTimeout); err != nil {
		t.Fatalf("reboot did not end QEMU (-no-reboot): %v", err)
	}

	if host := b.boot(); host != "bartest" {
		t.Fatalf("prompt after reboot %q, want bartest", host)
	}
	cfg := b.run("show configuration")
	for _, want := range []string{"set system hostname bartest", "set interfaces eth0 address 10.99.0.5/24"} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("show configuration lacks %q:\n%s", want, cfg)
		}
	}
	waitFor(t, func() (bool, string) {
		out := b.run("show interfaces")
		return strings.Contains(out, "10.99.0.5/24"), out
	}, "init applies 10.99.0.5/24 to eth0")

	b.run("configure")
	b.run("rollback 1")
	if out := b.run("commit back to the default"); !strings.Contains(out, "committed revision 3") {
		t.Fatalf("commit after rollback: %s", out)
	}
	b.run("exit")
	cfg = b.run("show configuration")
	if strings.Contains(cfg, "10.99.0.5/24") || !strings.Contains(cfg, "set interfaces eth0 address 10.99.0.1/24") {
		t.Fatalf("after rollback 1 + commit:\n%s", cfg)
	}
	waitFor(t, func() (bool, string) {
		out := b.run("show interfaces")
		return !strings.Contains(out, "10.99.0.5/24") && strings.Contains(out, "10.99.0.1/24"), out
	}, "init removes 10.99.0.5/24 from eth0")
	// The ssh host key is board identity: a reboot and a rollback to a
	// revision older than the key keep it.
	if out := b.run("show system"); !strings.Contains(out, "ssh host key: "+hostKey[1]) {
		t.Fatalf("after reboot and rollback 1, show system lacks the first boot's host key %s:\n%s", hostKey[1], out)
	}
}

// loopbackUp checks the lo line of `show interfaces`: init brings lo up
// with 127.0.0.1/8 and ::1/128 before it starts the services.
func loopbackUp(show string) error {
	for _, l := range strings.Split(show, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "lo" {
			continue
		}
		if f[1] != "up" || !slices.Contains(f, "127.0.0.1/8") || !slices.Contains(f, "::1/128") {
			return fmt.Errorf("lo is not up with 127.0.0.1/8 and ::1/128: %q\n%s", l, show)
		}
		return nil
	}
	return fmt.Errorf("show interfaces lists no lo:\n%s", show)
}

// innerStamp is a timestamp inside a ring line's message: log's
// (2026/12/03 08:58:58) or RFC 3339.
var innerStamp = regexp.MustCompile(`^(?:\d{4}/\d\d/\d\d|\d{4}-\d\d-\d\dT)`)

// singleStamped checks that every line of `show log` ("TIME source: msg")
// has one timestamp and one source name, the ring's: no
// "T ikesvc: 2026/12/03 08:58:58 ikesvc: ..." or "T configsvc: configsvc: ...".
func singleStamped(log string) error {
	var bad []string
	for _, l := range strings.Split(log, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && strings.HasSuffix(f[1], ":") && (f[2] == f[1] || innerStamp.MatchString(f[2])) {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("show log has %d lines with two timestamps or two names, e.g. %q:\n%s", len(bad), bad[0], log)
	}
	if !strings.Contains(log, " configsvc: ") || !strings.Contains(log, " init: ") {
		return fmt.Errorf("show log lacks configsvc or init lines:\n%s", log)
	}
	return nil
}

// waitFor retries check for up to 30 s; the config is applied
// asynchronously after a commit.
func waitFor(t *testing.T, check func() (bool, string), what string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		ok, out := check()
		if ok {
			return
		}
		last = out
	}
	t.Fatalf("%s: not seen within 30 s; last output:\n%s", what, last)
}

// TestIdleWritesNothingToCF checks that 60 s of idle running after boot
// write 0 sectors to the CF card. The first boot of a new card writes the
// default configuration (a commit), so the board is rebooted once first,
// as every board in the field has been.
func TestIdleWritesNothingToCF(t *testing.T) {
	t.Parallel() // mostly waiting; runs beside the other QEMU tests
	b := newBoard(t, "qemu.img")
	b.boot()
	if err := b.vm.Type("reboot"); err != nil {
		t.Fatal(err)
	}
	if err := b.vm.Wait(bootTimeout); err != nil {
		t.Fatalf("reboot did not end QEMU (-no-reboot): %v", err)
	}
	b.boot()
	time.Sleep(5 * time.Second) // let boot-time work (config apply, ext4 mount) finish
	before := b.sectorsWritten()
	time.Sleep(60 * time.Second)
	after := b.sectorsWritten()
	if after != before {
		t.Fatalf("%d sectors written to the CF card during 60 s of idle running", after-before)
	}
	t.Logf("idle 60 s: 0 sectors written (counter stayed at %d)", before)
}
