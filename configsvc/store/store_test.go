package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
)

func mustParse(t testing.TB, s string) *model.Config {
	t.Helper()
	c, err := settext.ParseString(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.db")
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Create(path, mustParse(t, "set system hostname alixsec\n"), "factory default", Options{Now: func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func hostnameCfg(t testing.TB, name string) *model.Config {
	return mustParse(t, "set system hostname "+name+"\nset interfaces eth0 address 10.99.0.1/24\n")
}

func TestCommitAndRollback(t *testing.T) {
	s, _ := newStore(t)
	r, err := s.Running()
	if err != nil || r.Number != 1 || r.Comment != "factory default" {
		t.Fatalf("Running() = %+v, %v; want revision 1", r, err)
	}
	n, err := s.Commit(1, hostnameCfg(t, "gw1"), "first")
	if err != nil || n != 2 {
		t.Fatalf("Commit = %d, %v; want 2", n, err)
	}
	r, _ = s.Running()
	if r.Number != 2 || r.Config.System.Hostname != "gw1" || r.Comment != "first" {
		t.Fatalf("running after commit = %d %q %q", r.Number, r.Config.System.Hostname, r.Comment)
	}
	// rollback 1 = make a candidate from revision 1 and commit it.
	old, err := s.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	n, err = s.Commit(2, old.Config, "rollback to 1")
	if err != nil || n != 3 {
		t.Fatalf("rollback commit = %d, %v", n, err)
	}
	r, _ = s.Running()
	if !r.Config.Equal(old.Config) {
		t.Errorf("running after rollback:\n%s\nwant\n%s", settext.Format(r.Config), settext.Format(old.Config))
	}
}

func TestCommitRefusesStaleBase(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Commit(1, hostnameCfg(t, "a"), ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.Commit(1, hostnameCfg(t, "b"), "")
	var stale *StaleError
	if !errors.As(err, &stale) || stale.Base != 1 || stale.Running != 2 {
		t.Fatalf("stale commit error = %v, want StaleError{1, 2}", err)
	}
	if !strings.Contains(err.Error(), "based on revision 1, but revision 2 was committed meanwhile") {
		t.Errorf("message unclear: %v", err)
	}
	r, _ := s.Running()
	if r.Config.System.Hostname != "a" {
		t.Errorf("stale commit changed running to %q", r.Config.System.Hostname)
	}
}

func TestInvalidCandidateNeverRuns(t *testing.T) {
	s, _ := newStore(t)
	bad := mustParse(t, "set routes 10.0.0.0/8\n") // no next-hop or interface
	_, err := s.Commit(1, bad, "")
	var inv *InvalidError
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "routes 10.0.0.0/8: needs next-hop or interface") {
		t.Fatalf("Commit(invalid) = %v", err)
	}
	if r, _ := s.Running(); r.Number != 1 {
		t.Errorf("running is %d after invalid commit", r.Number)
	}
	if h, _ := s.History(); len(h) != 1 {
		t.Errorf("history has %d entries after invalid commit", len(h))
	}
}

func TestHistoryKeepsLast50(t *testing.T) {
	s, _ := newStore(t)
	for i := 0; i < 60; i++ {
		r, _ := s.Running()
		if _, err := s.Commit(r.Number, hostnameCfg(t, fmt.Sprintf("h%d", i)), fmt.Sprintf("c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != DefaultKeep || h[0].Number != 61 || h[len(h)-1].Number != 12 {
		t.Fatalf("history: %d entries %d..%d, want 50 entries 61..12", len(h), h[0].Number, h[len(h)-1].Number)
	}
	if h[0].Comment != "c59" || !h[0].Time.After(h[1].Time) {
		t.Errorf("newest = %+v, next %+v", h[0], h[1])
	}
	_, err = s.Get(11)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "kept: 12..61") {
		t.Errorf("Get(pruned) = %v", err)
	}
}

func TestCompare(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Commit(1, hostnameCfg(t, "gw1"), ""); err != nil {
		t.Fatal(err)
	}
	d, err := s.Compare(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := "- set system hostname alixsec\n+ set system hostname gw1\n+ set interfaces eth0 address 10.99.0.1/24\n"
	if got := settext.DiffText(d); got != want {
		t.Errorf("Compare(1, 2) =\n%s\nwant\n%s", got, want)
	}
	if _, err := s.Compare(1, 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("Compare(1, 9) = %v", err)
	}
}

func TestReopenKeepsDataAndWritesNothing(t *testing.T) {
	s, path := newStore(t)
	if _, err := s.Commit(1, hostnameCfg(t, "gw1"), ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, _ := os.ReadFile(path)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s2.Running()
	if err != nil || r.Number != 2 || r.Config.System.Hostname != "gw1" {
		t.Fatalf("after reopen: %+v, %v", r, err)
	}
	if _, err := s2.History(); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	after, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if !bytes.Equal(before, after) || !fi.ModTime().Equal(old) {
		t.Errorf("open/read/close modified the file (mtime %v, want %v; equal bytes %v)", fi.ModTime(), old, bytes.Equal(before, after))
	}
}

func TestCorruptFileGivesClearErrorAndStaysUntouched(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"truncated in the middle", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated to one page", func(b []byte) []byte { return b[:4096] }},
		{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte("garbage!"), len(b)/8) }},
		{"garbage data pages", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			for i := 4 * 4096; i < len(c); i++ {
				c[i] = byte(i * 7)
			}
			return c
		}},
		{"empty", func(b []byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := newStore(t)
			big := strings.Repeat("x", 200)
			for i := 0; i < 30; i++ {
				c := hostnameCfg(t, fmt.Sprintf("h%d", i))
				_ = c.Set([]string{"system", "description", big})
				r, _ := s.Running()
				if _, err := s.Commit(r.Number, c, ""); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			good, _ := os.ReadFile(path)
			bad := tt.damage(good)
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, Options{})
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open(damaged) = %v, want *CorruptError", err)
			}
			if !strings.Contains(err.Error(), "is corrupt or truncated (left untouched") {
				t.Errorf("unclear error: %v", err)
			}
			now, _ := os.ReadFile(path)
			if !bytes.Equal(now, bad) {
				t.Error("Open changed the damaged file")
			}
			if _, err := Create(path, hostnameCfg(t, "x"), "", Options{}); err == nil {
				t.Error("Create over a damaged file succeeded")
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope.db"), Options{})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(missing) = %v, want ErrNotFound", err)
	}
}

func TestMeasureCommit(t *testing.T) {
	cost, err := MeasureCommit(t.TempDir(), hostnameCfg(t, "gw1"), 3)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt writes at least the data pages and one meta page.
	if cost.Bytes < 4096 || cost.WriteCalls < 2 {
		t.Errorf("implausible commit cost: %v", cost)
	}
	t.Logf("one commit: %v", cost)
}

// BenchmarkCommit reports what one commit of the example two-peer config
// writes; `make bench` prints it.
func BenchmarkCommit(b *testing.B) {
	ex, err := os.ReadFile("../testdata/example-gw1.set")
	if err != nil {
		b.Fatal(err)
	}
	cfg := mustParse(b, string(ex))
	var cost CommitCost
	for i := 0; i < b.N; i++ {
		cost, err = MeasureCommit(b.TempDir(), cfg, 3)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cost.Bytes), "bytes-written/commit")
	b.ReportMetric(float64(cost.WriteCalls), "writes/commit")
}
