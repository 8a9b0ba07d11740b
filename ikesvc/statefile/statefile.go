// Package statefile keeps ikesvc's state across a restart of its process:
// one file in RAM (tmpfs or ramfs, e.g. /run on the board, whose root is
// an initramfs), written atomically, never on the CF card. A reboot loses
// it, as it should: the kernel's SAs are gone too.
//
// The file is a header line and the payload:
//
//	alixsec-ikesvc-state 1 <payload bytes> <hex SHA-256 of the payload>\n
//	<payload>
//
// so a truncated or altered file is recognised and discarded, never half
// read. The mode is 0600: the payload holds key material.
package statefile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

const magic = "alixsec-ikesvc-state"

// Version is the file format's version (the payload has its own).
const Version = 1

// ErrDamaged is wrapped by Load for a file that is not a whole state file.
var ErrDamaged = errors.New("state file damaged")

// File is one state file.
type File struct {
	path string
}

// Open checks that path's directory exists and lives in RAM, so that the
// state can never reach persistent storage.
func Open(path string) (*File, error) {
	dir := filepath.Dir(path)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if !inRAM(int64(st.Type)) {
		return nil, fmt.Errorf("state file %s: %s is not in RAM (file system type %#x, want tmpfs or ramfs): key material must not reach a disk", path, dir, st.Type)
	}
	return &File{path: path}, nil
}

func inRAM(fsType int64) bool {
	return fsType == unix.TMPFS_MAGIC || fsType == unix.RAMFS_MAGIC
}

// Path is the file's name.
func (f *File) Path() string { return f.path }

// Save replaces the file with payload atomically: a reader (the next
// process) sees the old file or the new one, never a mix. No fsync: the
// file lives in RAM.
func (f *File) Save(payload []byte) error {
	sum := sha256.Sum256(payload)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %d %d %s\n", magic, Version, len(payload), hex.EncodeToString(sum[:]))
	b.Write(payload)
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	// WriteFile keeps the mode of an existing file: make sure.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	return nil
}

// Load returns the payload; an error wrapping os.ErrNotExist when there is
// no file (a cold start), ErrDamaged when it is not a whole state file.
func (f *File) Load() ([]byte, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	header, payload, ok := bytes.Cut(data, []byte("\n"))
	fields := bytes.Fields(header)
	if !ok || len(fields) != 4 || string(fields[0]) != magic {
		return nil, fmt.Errorf("%w: %s: no state header", ErrDamaged, f.path)
	}
	if v, err := strconv.Atoi(string(fields[1])); err != nil || v != Version {
		return nil, fmt.Errorf("%w: %s: format version %s, want %d", ErrDamaged, f.path, fields[1], Version)
	}
	if n, err := strconv.Atoi(string(fields[2])); err != nil || n != len(payload) {
		return nil, fmt.Errorf("%w: %s: %d bytes of payload, header says %s", ErrDamaged, f.path, len(payload), fields[2])
	}
	sum := sha256.Sum256(payload)
	if hex.EncodeToString(sum[:]) != string(fields[3]) {
		return nil, fmt.Errorf("%w: %s: checksum mismatch", ErrDamaged, f.path)
	}
	return payload, nil
}

// Remove deletes the file (nothing left to continue); a missing file is fine.
func (f *File) Remove() error {
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing state file: %w", err)
	}
	return nil
}
