package statefile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// ramDir is a fresh directory on a tmpfs (/dev/shm on Linux hosts).
func ramDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "statefile-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestSaveLoad(t *testing.T) {
	f, err := Open(filepath.Join(ramDir(t), "ikesvc.state"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of no file: %v, want not exist", err)
	}
	for _, payload := range [][]byte{[]byte(`{"version":1}`), {}, bytes.Repeat([]byte{0, '\n', 0xff}, 1000)} {
		if err := f.Save(payload); err != nil {
			t.Fatal(err)
		}
		got, err := f.Load()
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("Load: %q, %v; want %q", got, err, payload)
		}
	}
	fi, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load after Remove: %v", err)
	}
}

func TestDamaged(t *testing.T) {
	f, err := Open(filepath.Join(ramDir(t), "ikesvc.state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Save([]byte(`{"version":1,"sas":[]}`)); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"truncated":      good[:len(good)-3],
		"flipped byte":   append(append([]byte{}, good[:len(good)-2]...), good[len(good)-2]^1, good[len(good)-1]),
		"no header":      []byte(`{"version":1}`),
		"other format":   bytes.Replace(good, []byte(magic+" 1"), []byte(magic+" 9"), 1),
		"empty":          {},
		"longer payload": append(append([]byte{}, good...), 'x'),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(f.Path(), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Load(); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Load: %v, want ErrDamaged", err)
			}
		})
	}
}

func TestOpenRefusesDisk(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(dir, "ikesvc.state")); (err == nil) != inRAM(int64(st.Type)) {
		t.Fatalf("Open in %s (file system %#x): %v", dir, st.Type, err)
	}
	if _, err := Open("/nonexistent-dir/ikesvc.state"); err == nil {
		t.Fatal("a state file in a missing directory was accepted")
	}
}
