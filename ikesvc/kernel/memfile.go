package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// MemoryFile is a Memory backend whose entries outlive the process in a
// file: the stand-in for the kernel's XFRM tables in host tests of ikesvc
// restarts. The build host's kernel has no ESP, and a Memory backend dies
// with its process, which a kernel does not. Every change is written to
// the file (JSON of the owned Set, keys included: tests only); a new
// MemoryFile on the same file starts with what the last one held.
type MemoryFile struct {
	*Memory
	path string
	mu   sync.Mutex // one write at a time
}

var _ Backend = (*MemoryFile)(nil)

// NewMemoryFile opens (or starts) the tables kept in path.
func NewMemoryFile(path string, own Ownership, now func() time.Time) (*MemoryFile, error) {
	m, err := NewMemory(own, now)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("kernel: memory file: %w", err)
	default:
		var s Set
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("kernel: memory file %s: %w", path, err)
		}
		m.Preload(s)
	}
	return &MemoryFile{Memory: m, path: path}, nil
}

// Apply implements Backend.
func (m *MemoryFile) Apply(ctx context.Context, desired Set) (Changes, error) {
	c, err := m.Memory.Apply(ctx, desired)
	return c, errors.Join(err, m.save(ctx))
}

// DeleteSA implements Backend.
func (m *MemoryFile) DeleteSA(ctx context.Context, id SAID) error {
	err := m.Memory.DeleteSA(ctx, id)
	return errors.Join(err, m.save(ctx))
}

func (m *MemoryFile) save(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.Memory.List(ctx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("kernel: memory file: %w", err)
	}
	tmp := m.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("kernel: memory file: %w", err)
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return fmt.Errorf("kernel: memory file: %w", err)
	}
	return nil
}
