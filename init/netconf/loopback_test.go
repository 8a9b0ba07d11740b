package netconf

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestLoopback: a fresh namespace's lo is down without addresses; after
// Loopback it is up with 127.0.0.1/8 and ::1/128, and a second call
// changes nothing. One case starts with the kernel's addresses removed, so
// Loopback must add them itself.
func TestLoopback(t *testing.T) {
	tests := []struct {
		name        string
		stripFirst  bool // bring lo up and remove its addresses before Loopback
		wantChanges []string
	}{
		{"fresh namespace", false, []string{"lo: up"}},
		{"addresses missing", true, []string{"lo: added address 127.0.0.1/8", "lo: added address ::1/128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestNamespace(t)
			var log []string
			a := New(h, func(f string, args ...any) { log = append(log, fmt.Sprintf(f, args...)) })
			if tt.stripFirst {
				lo, err := h.LinkByName("lo")
				if err != nil {
					t.Fatal(err)
				}
				if err := h.LinkSetUp(lo); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{"127.0.0.1/8", "::1/128"} {
					if err := h.AddrDel(lo, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix(p))}); err != nil {
						t.Fatalf("remove %s: %v", p, err)
					}
				}
			}
			if got := addrsOf(t, h, "lo"); tt.stripFirst && len(got) != 0 {
				t.Fatalf("lo before: %v, want no addresses", got)
			}
			if err := a.Loopback(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(log, tt.wantChanges) {
				t.Errorf("changes %q, want %q", log, tt.wantChanges)
			}
			lo, err := h.LinkByName("lo")
			if err != nil {
				t.Fatal(err)
			}
			if lo.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("lo is down after Loopback")
			}
			got := addrsOf(t, h, "lo")
			for _, want := range []string{"127.0.0.1/8", "::1/128"} {
				if !slices.Contains(got, want) {
					t.Errorf("lo addresses %v lack %s", got, want)
				}
			}
			log = nil
			if err := a.Loopback(); err != nil {
				t.Fatal(err)
			}
			if len(log) != 0 {
				t.Errorf("second Loopback changed %q, want nothing", log)
			}
		})
	}
}
