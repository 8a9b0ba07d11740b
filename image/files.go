package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// copyFile copies src to dst and syncs dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// pendingFile is an output written under a temporary name in the final
// directory and renamed into place only when complete, so a failed or
// interrupted build never leaves a half-written file under the final name.
type pendingFile struct {
	final string
	tmp   string
}

func newPendingFile(final string) (*pendingFile, error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output dir: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	f.Close()
	return &pendingFile{final: final, tmp: f.Name()}, nil
}

// commit syncs the temporary file and renames it to the final name.
func (p *pendingFile) commit() error {
	f, err := os.OpenFile(p.tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", p.tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", p.tmp, err)
	}
	f.Close()
	if err := os.Chmod(p.tmp, 0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", p.tmp, err)
	}
	if err := os.Rename(p.tmp, p.final); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// discard removes the temporary file; it is a no-op after commit.
func (p *pendingFile) discard() {
	os.Remove(p.tmp)
}
