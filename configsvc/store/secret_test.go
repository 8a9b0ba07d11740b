package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// TestSecretSurvivesRollbackAndReopen is the host key's promise: made
// after revision 2, it stays when revision 1 (older than the key) is
// rolled back to and committed, across closing and reopening the real
// bbolt file, and only ReplaceSecret changes it, as a numbered revision.
func TestSecretSurvivesRollbackAndReopen(t *testing.T) {
	s, path := newStore(t)
	if _, err := s.Secret("ssh-host-key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Secret on a new database = %v, want ErrNotFound", err)
	}
	if _, err := s.Commit(1, hostnameCfg(t, "gw1"), "second"); err != nil {
		t.Fatal(err)
	}
	gen := func(v string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(v), nil } }
	key, created, err := s.EnsureSecret("ssh-host-key", gen("key-A"))
	if err != nil || !created || string(key) != "key-A" {
		t.Fatalf("EnsureSecret = %q, %v, %v; want key-A, created", key, created, err)
	}
	key, created, err = s.EnsureSecret("ssh-host-key", gen("key-B"))
	if err != nil || created || string(key) != "key-A" {
		t.Fatalf("second EnsureSecret = %q, %v, %v; want the kept key-A", key, created, err)
	}
	old, err := s.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(2, old.Config, "rollback 1"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Secret("ssh-host-key"); err != nil || string(v) != "key-A" {
		t.Fatalf("after rollback to a revision older than the key: %q, %v", v, err)
	}

	n, err := s.ReplaceSecret("ssh-host-key", []byte("key-C"), "ssh host key regenerated")
	if err != nil || n != 4 {
		t.Fatalf("ReplaceSecret = %d, %v; want revision 4", n, err)
	}
	run, err := s.Running()
	if err != nil || run.Number != 4 || run.Comment != "ssh host key regenerated" || !run.Config.Equal(old.Config) {
		t.Fatalf("running after ReplaceSecret = %+v, %v; want revision 4 with revision 3's config", run, err)
	}
	if _, err := s.Commit(3, hostnameCfg(t, "late"), "stale"); err == nil {
		t.Fatal("a candidate based on revision 3 committed after the host key changed")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, err := s2.Secret("ssh-host-key"); err != nil || string(v) != "key-C" {
		t.Fatalf("after reopen: %q, %v; want key-C", v, err)
	}
	if _, created, _ := s2.EnsureSecret("ssh-host-key", gen("key-D")); created {
		t.Fatal("EnsureSecret made a new key on a database that has one")
	}
	if !bytes.Equal(before, readFile(t, path)) {
		t.Fatal("opening and reading the secret wrote to the file")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
