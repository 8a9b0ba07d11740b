package imagetest

import (
	"context"
	"regexp"
	"testing"
	"time"

	"alixsec.dev/scripts/qemu"
)

// bootTimeout bounds each wait on the console. QEMU runs under TCG here
// (no KVM for 32-bit guests) on a loaded two-core machine.
const bootTimeout = 120 * time.Second

// bootImage boots a CF image through its bootloader and returns the VM
// once the firmware's banner and shell prompt are up. On failure the whole
// console log is printed.
func bootImage(t *testing.T, image, board string) *qemu.VM {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*bootTimeout)
	vm, err := qemu.Start(ctx, qemu.Config{Image: image, Snapshot: true, NoReboot: true})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		vm.Stop()
		cancel()
		if t.Failed() {
			t.Logf("console log of %s:\n%s", image, vm.Log())
			if c := qemu.CrashLines(vm.Log(), 12); c != "" {
				t.Logf("crash lines in the console log of %s:\n%s", image, c)
			}
		}
	})
	m, err := vm.Expect(regexp.MustCompile(`alixsec (\S+) board=(\S+)\s`), bootTimeout)
	if err != nil {
		t.Fatalf("banner: %v", err)
	}
	if m[2] != board {
		t.Fatalf("banner says board=%s, want %s", m[2], board)
	}
	t.Logf("banner: alixsec %s board=%s", m[1], m[2])
	return vm
}

// TestBootThroughBootloader boots the ALIX and WRAP images from a -drive
// disk (MBR, syslinux, kernel, initramfs) on a Pentium-class CPU with 64 MB,
// waits for the banner and the CLI, starts a shell from the CLI, types
// `uname -m` and reads the answer.
func TestBootThroughBootloader(t *testing.T) {
	for _, board := range []string{"alix", "wrap"} {
		t.Run(board, func(t *testing.T) {
			t.Parallel()
			vm := bootImage(t, artifact(t, board+".img"), board)
			if _, err := vm.Expect(qemu.CLIPrompt, bootTimeout); err != nil {
				t.Fatalf("CLI prompt: %v", err)
			}
			if err := vm.Type("start shell"); err != nil {
				t.Fatal(err)
			}
			if err := vm.ExpectString("$ ", bootTimeout); err != nil {
				t.Fatalf("shell prompt: %v", err)
			}
			if err := vm.Type("uname -m"); err != nil {
				t.Fatal(err)
			}
			m, err := vm.Expect(regexp.MustCompile(`\n(i[3-6]86)\r?\n`), bootTimeout)
			if err != nil {
				t.Fatalf("uname -m answer: %v", err)
			}
			if m[1] != "i586" {
				t.Fatalf("uname -m = %s, want i586 (an M586MMX kernel)", m[1])
			}
		})
	}
}
