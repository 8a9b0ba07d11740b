package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"alixsec.dev/scripts/qemu"
)

var upgradeWritesRe = regexp.MustCompile(`CF writes of this upgrade: (\d+) sectors`)

// upgradeRows measures one A/B upgrade of the QEMU board under TCG: the
// seconds from `request system upgrade URL` to the new firmware marking
// itself good (transfer over QEMU user networking, verify, slot write,
// reboot, trial boot, health check), the CF sectors the upgrade command
// wrote (its own counter), and what the trial boot wrote until marked
// good beyond a plain boot (the A/B state and ADV updates).
func upgradeRows(out string) ([]row, error) {
	const timeout = 420 * time.Second
	image := filepath.Join(out, "qemu.img")
	update, err := os.ReadFile(filepath.Join(out, "upgrade", "qemu-next.upd"))
	if err != nil {
		return nil, fmt.Errorf("upgrade bench: %w (make upgrade-images)", err)
	}
	disk, err := os.CreateTemp("", "alixsec-bench-upgrade-*.img")
	if err != nil {
		return nil, err
	}
	disk.Close()
	defer os.Remove(disk.Name())
	if err := copyFile(image, disk.Name()); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(update) })}
	go srv.Serve(l)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*timeout)
	defer cancel()
	vm, err := qemu.Start(ctx, qemu.Config{Image: disk.Name(), Extra: []string{
		"-device", "i6300esb",
		"-netdev", "user,id=lan,restrict=on," + qemu.GuestForward("10.0.2.100:80", l.Addr().(*net.TCPAddr).Port),
		"-device", "e1000,netdev=lan",
	}})
	if err != nil {
		return nil, err
	}
	defer vm.Stop()
	fail := func(what string, err error) ([]row, error) {
		return nil, fmt.Errorf("upgrade bench: %s: %w\nconsole:\n%s", what, err, qemu.Tail(vm.Log(), 40))
	}
	if _, err := vm.Expect(qemu.CLIPrompt, timeout); err != nil {
		return fail("CLI prompt", err)
	}
	for _, line := range []string{"configure", "set interfaces eth0 address 10.0.2.15/24", "commit", "exit"} {
		if _, err := vm.Command(line, timeout); err != nil {
			return fail(line, err)
		}
	}
	time.Sleep(35 * time.Second) // the commit's ext4 writeback
	plain, err := sectorsWritten(vm, timeout)
	if err != nil {
		return fail("show system", err)
	}
	start := time.Now()
	if err := vm.Type("request system upgrade http://10.0.2.100/qemu-next.upd"); err != nil {
		return fail("type", err)
	}
	m, err := vm.Expect(upgradeWritesRe, timeout)
	if err != nil {
		return fail("upgrade", err)
	}
	written, _ := strconv.Atoi(m[1])
	if err := vm.ExpectString("firmware: healthy after", timeout); err != nil {
		return fail("marked good", err)
	}
	elapsed := time.Since(start)
	trial, err := sectorsWritten(vm, timeout)
	if err != nil {
		return fail("show system", err)
	}
	return []row{
		{"A/B upgrade, command to marked good (QEMU TCG)", fmt.Sprintf("%.0f s", elapsed.Seconds()), "reported"},
		{"CF bytes written by the upgrade command", fmt.Sprintf("%d KiB", written/2), "the new firmware (not the whole 15 MiB slot) and A/B state"},
		{"CF bytes written by the trial boot until marked good", fmt.Sprintf("%d KiB (the first boot, factory default and one commit included: %d KiB)", trial/2, plain/2), "ADV and state file"},
	}, nil
}

var sectorsLineRe = regexp.MustCompile(`disk sda: (\d+) sectors written since boot`)

// sectorsWritten types show system and waits for its counter line itself
// (the lines before it may hold text that looks like a prompt).
func sectorsWritten(vm *qemu.VM, timeout time.Duration) (int, error) {
	if err := vm.Type("show system"); err != nil {
		return 0, err
	}
	m, err := vm.Expect(sectorsLineRe, timeout)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(m[1])
}
