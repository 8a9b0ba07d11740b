package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
)

// Loopback addresses every host has.
var (
	loopback4 = netip.MustParsePrefix("127.0.0.1/8")
	loopback6 = netip.MustParsePrefix("::1/128")
)

// Loopback brings lo up with 127.0.0.1/8 and (when the kernel has IPv6)
// ::1. The kernel adds both addresses itself when lo goes up; they are
// added here only if missing, so the call is idempotent and leaves nothing
// half done.
func (a *Applier) Loopback() error {
	link, err := a.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := a.h.LinkSetUp(link); err != nil {
			return fmt.Errorf("loopback: set up: %w", err)
		}
		a.log("lo: up")
	}
	want := []netip.Prefix{loopback4}
	if _, err := os.Stat(filepath.Join(a.sysctlDir, "net/ipv6")); err == nil {
		want = append(want, loopback6)
	}
	have, err := retryDump(func() ([]netlink.Addr, error) { return a.h.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("loopback: list addresses: %w", err)
	}
	present := map[netip.Prefix]bool{}
	for _, addr := range have {
		if p, ok := prefixOf(addr.IPNet); ok {
			present[p] = true
		}
	}
	var errs []error
	for _, p := range want {
		if present[p] {
			continue
		}
		if err := a.h.AddrAdd(link, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
			errs = append(errs, fmt.Errorf("loopback: add address %s: %w", p, err))
			continue
		}
		a.log("lo: added address %s", p)
	}
	return errors.Join(errs...)
}
