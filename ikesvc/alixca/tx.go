package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// tx collects the file changes of one command and applies them together, so
// a failure (a full disk, a bad permission, a crash before the last rename)
// leaves the directory as it was: every new file is first written and
// fsync'd under a temporary name, existing files are kept as hard-linked
// backups until every rename has succeeded, and a failed rename puts the
// backups back. index.txt is always renamed last, so even a crash during
// the renames leaves the index describing files that exist.
type tx struct {
	dir     string
	changes []change
	rename  func(oldpath, newpath string) error // os.Rename; tests inject failures
}

type change struct {
	name   string // relative to dir
	data   []byte
	mode   os.FileMode
	remove bool
}

// write schedules name to hold data with mode.
func (t *tx) write(name string, data []byte, mode os.FileMode) {
	t.changes = append(t.changes, change{name: name, data: data, mode: mode})
}

// remove schedules name for removal (no error if it does not exist).
func (t *tx) remove(name string) {
	t.changes = append(t.changes, change{name: name, remove: true})
}

// ordered returns the changes with index.txt last.
func (t *tx) ordered() []change {
	var out, last []change
	for _, c := range t.changes {
		if c.name == indexFile {
			last = append(last, c)
		} else {
			out = append(out, c)
		}
	}
	return append(out, last...)
}

type staged struct {
	change
	target string
	temp   string // new content, "" for removals
	backup string // hard link to the old file, "" if none
	done   bool
}

// commit applies every change or none.
func (t *tx) commit() (err error) {
	rename := t.rename
	if rename == nil {
		rename = os.Rename
	}
	var st []*staged
	defer func() {
		if err != nil {
			rollback(st)
		}
		for _, s := range st {
			if s.temp != "" {
				os.Remove(s.temp)
			}
			if s.backup != "" && err == nil {
				os.Remove(s.backup)
			}
		}
	}()
	for _, c := range t.ordered() {
		s := &staged{change: c, target: filepath.Join(t.dir, c.name)}
		st = append(st, s)
		if err := os.MkdirAll(filepath.Dir(s.target), 0o755); err != nil {
			return fmt.Errorf("create directory for %s: %w", c.name, err)
		}
		if !c.remove {
			if s.temp, err = writeTemp(s.target, c.data, c.mode); err != nil {
				return err
			}
		}
		if _, statErr := os.Lstat(s.target); statErr == nil {
			s.backup = s.target + ".alixca-backup"
			os.Remove(s.backup)
			if err := os.Link(s.target, s.backup); err != nil {
				return fmt.Errorf("back up %s: %w", c.name, err)
			}
		}
	}
	for _, s := range st {
		if s.remove {
			if err := os.Remove(s.target); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", s.name, err)
			}
		} else if err := rename(s.temp, s.target); err != nil {
			return fmt.Errorf("write %s: %w", s.name, err)
		} else {
			s.temp = ""
		}
		s.done = true
	}
	return syncDir(t.dir)
}

// rollback restores the files of the changes already applied.
func rollback(st []*staged) {
	for i := len(st) - 1; i >= 0; i-- {
		s := st[i]
		if !s.done {
			continue
		}
		if s.backup != "" {
			os.Rename(s.backup, s.target)
			s.backup = ""
		} else {
			os.Remove(s.target)
		}
	}
	for _, s := range st {
		if s.backup != "" {
			os.Remove(s.backup)
		}
	}
}

func writeTemp(target string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", filepath.Base(target), err)
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", filepath.Base(target), err)
	}
	// CreateTemp makes the file 0600, so a key is never readable by others,
	// not even for a moment; public files are widened afterwards.
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
