// Package bootparttest makes small boot partition images for tests, the
// way the image builder does (mkfs.vfat, syslinux --install, mcopy of
// pre-sized slot files): the host tools are the reference the firmware's
// own FAT and ADV code is checked against.
package bootparttest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Slot file sizes of the test image.
const (
	KernelBytes = 300_000
	InitrdBytes = 700_001
)

// Image returns the path of a fresh 20 MiB FAT16 image with syslinux and
// empty (zero) slots a and b.
func Image(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"mkfs.vfat", "syslinux", "mcopy", "mmd", "fsck.vfat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (make deps): %v", tool, err)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "boot.img")
	Run(t, "mkfs.vfat", "-C", "-F", "16", "-n", "ALIXSEC", img, "20480")
	Run(t, "syslinux", "--install", img)
	// A file in between makes the slot files start at odd clusters.
	write(t, filepath.Join(dir, "x"), bytes.Repeat([]byte{7}, 3000))
	Run(t, "mcopy", "-i", img, filepath.Join(dir, "x"), "::/x")
	write(t, filepath.Join(dir, "k"), make([]byte, KernelBytes))
	write(t, filepath.Join(dir, "i"), make([]byte, InitrdBytes))
	for _, s := range []string{"a", "b"} {
		Run(t, "mmd", "-i", img, "::/"+s)
		Run(t, "mcopy", "-i", img, filepath.Join(dir, "k"), "::/"+s+"/vmlinuz")
		Run(t, "mcopy", "-i", img, filepath.Join(dir, "i"), "::/"+s+"/initrd")
	}
	return img
}

// Run runs a host tool and returns its output; failure ends the test.
func Run(t testing.TB, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
