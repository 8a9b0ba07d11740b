package kernel

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

func TestMemoryFileOutlivesTheBackend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xfrm.json")
	ctx := context.Background()
	a, err := NewMemoryFile(path, DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	local, remote := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	want := peerSet(local, remote, 0xc0000001, 0xc0000002, DefaultOwnership().ReqidMin, 7)
	if _, err := a.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	b, err := NewMemoryFile(path, DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertSameSet(t, got, want)
	// The same set again changes nothing: the entries were adopted.
	c, err := b.Apply(ctx, want)
	if err != nil || !c.None() {
		t.Fatalf("re-applying: %v, %v", c, err)
	}
	if err := b.DeleteSA(ctx, want.SAs[0].ID()); err != nil {
		t.Fatal(err)
	}
	c2, err := NewMemoryFile(path, DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := c2.List(ctx); len(s.SAs) != len(want.SAs)-1 {
		t.Fatalf("a deleted SA came back: %+v", s.SAs)
	}
}
