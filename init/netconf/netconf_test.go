package netconf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// newTestNamespace returns a netlink handle on a fresh network namespace
// holding a veth pair d0/d1, or skips when not root.
func newTestNamespace(t *testing.T) *netlink.Handle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); ns.Close() })
	// A veth pair, since this host's kernel has no dummy driver.
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "d0"}, PeerName: "d1"}); err != nil {
		t.Fatalf("add veth pair: %v", err)
	}
	return h
}

func addrsOf(t *testing.T, h *netlink.Handle, name string) []string {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		p, _ := prefixOf(a.IPNet)
		if !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p.String())
		}
	}
	sort.Strings(out)
	return out
}

func staticRoutes(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	rs, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: 4}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		k := keyOf(r)
		out = append(out, k.dst.String()+" via "+k.gateway.String())
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestApplyReconciles(t *testing.T) {
	h := newTestNamespace(t)
	var changes int
	var logged []string
	a := New(h, func(format string, args ...any) { changes++; logged = append(logged, fmt.Sprintf(format, args...)) })
	// The namespace's own /proc/sys is not reachable from this thread:
	// a directory stands in for it (d0 with SLAAC on, as the kernel starts).
	a.sysctlDir = t.TempDir()
	autoconf := filepath.Join(a.sysctlDir, "net/ipv6/conf/d0/autoconf")
	if err := os.MkdirAll(filepath.Dir(autoconf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(autoconf, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pp := netip.MustParsePrefix
	steps := []struct {
		name        string
		cfg         Config
		wantD0      []string
		wantRoutes  []string
		wantChanges bool
	}{
		{
			name: "first apply",
			cfg: Config{
				Interfaces: []Interface{{Name: "d0", MTU: 1400, Addresses: []netip.Prefix{pp("10.99.0.1/24"), pp("fd00:99::1/64")}}},
				Routes:     []Route{{Dst: pp("10.50.0.0/16"), Gateway: netip.MustParseAddr("10.99.0.254")}},
			},
			wantD0:      []string{"10.99.0.1/24", "fd00:99::1/64"},
			wantRoutes:  []string{"10.50.0.0/16 via 10.99.0.254"},
			wantChanges: true,
		},
		{
			name: "same config again changes nothing",
			cfg: Config{
				Interfaces: []Interface{{Name: "d0", MTU: 1400, Addresses: []netip.Prefix{pp("10.99.0.1/24"), pp("fd00:99::1/64")}}},
				Routes:     []Route{{Dst: pp("10.50.0.0/16"), Gateway: netip.MustParseAddr("10.99.0.254")}},
			},
			wantD0:     []string{"10.99.0.1/24", "fd00:99::1/64"},
			wantRoutes: []string{"10.50.0.0/16 via 10.99.0.254"},
		},
		{
			name: "address and route replaced",
			cfg: Config{
				Interfaces: []Interface{{Name: "d0", Addresses: []netip.Prefix{pp("10.99.0.5/24")}}},
				Routes:     []Route{{Dst: pp("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.99.0.254")}},
			},
			wantD0:      []string{"10.99.0.5/24"},
			wantRoutes:  []string{"0.0.0.0/0 via 10.99.0.254"},
			wantChanges: true,
		},
	}
	for _, step := range steps {
		changes = 0
		if err := a.Apply(step.cfg); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := addrsOf(t, h, "d0"); !equal(got, step.wantD0) {
			t.Fatalf("%s: d0 addresses %v, want %v", step.name, got, step.wantD0)
		}
		if got := staticRoutes(t, h); !equal(got, step.wantRoutes) {
			t.Fatalf("%s: routes %v, want %v", step.name, got, step.wantRoutes)
		}
		if (changes > 0) != step.wantChanges {
			t.Fatalf("%s: %d changes logged, want changes=%v", step.name, changes, step.wantChanges)
		}
	}
	if b, err := os.ReadFile(autoconf); err != nil || string(b) != "0\n" {
		t.Errorf("d0 IPv6 autoconf = %q, %v; want 0", b, err)
	}
	if n := strings.Count(strings.Join(logged, "\n"), "IPv6 address autoconfiguration off"); n != 1 {
		t.Errorf("autoconf switched off %d times, want once:\n%s", n, strings.Join(logged, "\n"))
	}
	link, _ := h.LinkByName("d0")
	if link.Attrs().MTU != 1400 {
		t.Fatalf("mtu %d, want 1400", link.Attrs().MTU)
	}
}

func TestApplyReportsBadInterfaceAndGoesOn(t *testing.T) {
	h := newTestNamespace(t)
	a := New(h, func(string, ...any) {})
	a.sysctlDir = t.TempDir() // never the host's /proc/sys
	err := a.Apply(Config{Interfaces: []Interface{
		{Name: "nosuch0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/24")}},
		{Name: "d1", Addresses: []netip.Prefix{netip.MustParsePrefix("10.2.0.1/24")}},
	}})
	if err == nil {
		t.Fatal("missing interface not reported")
	}
	if got := addrsOf(t, h, "d1"); !equal(got, []string{"10.2.0.1/24"}) {
		t.Fatalf("d1 not configured after another interface failed: %v", got)
	}
}

func TestRetryDump(t *testing.T) {
	other := errors.New("netlink socket closed")
	tests := []struct {
		name      string
		results   []error // what each call returns, in order
		wantCalls int
		wantErr   error
		wantItems int
	}{
		{"first try", []error{nil}, 1, nil, 1},
		{"interrupted twice", []error{netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted, nil}, 3, nil, 3},
		{"always interrupted", []error{netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted,
			netlink.ErrDumpInterrupted, netlink.ErrDumpInterrupted, nil}, maxDumpTries, netlink.ErrDumpInterrupted, maxDumpTries},
		{"other error at once", []error{other, nil}, 1, other, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			items, err := retryDump(func() ([]int, error) {
				calls++
				return make([]int, calls), tt.results[calls-1]
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) || len(items) != tt.wantItems {
				t.Errorf("retryDump: %d calls, %d items, %v; want %d calls, %d items, %v", calls, len(items), err, tt.wantCalls, tt.wantItems, tt.wantErr)
			}
		})
	}
}
