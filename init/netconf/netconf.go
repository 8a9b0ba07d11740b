// Package netconf applies the interfaces and static routes of the running
// configuration to the kernel through netlink. It works reconcile-style:
// Apply computes what differs between the config and the kernel and changes
// only that, so applying the same config twice changes nothing and a
// removed address or route really goes away.
//
// Ownership: every address on a configured interface is ours except IPv6
// link-local ones (the kernel makes those; SLAAC, which would make others,
// is turned off on configured interfaces); routes are ours when their
// protocol is RTPROT_STATIC, which is how Apply installs them. Routes the
// kernel adds for connected prefixes are never touched.
package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Interface is the wanted state of one link.
type Interface struct {
	Name      string
	Addresses []netip.Prefix
	MTU       int // 0: leave as is
}

// Route is one wanted static route.
type Route struct {
	Dst       netip.Prefix
	Gateway   netip.Addr // invalid for an on-link route
	Interface string     // "" when the gateway decides
	Metric    int
}

// Config is everything Apply reconciles.
type Config struct {
	Interfaces []Interface
	Routes     []Route
}

// Applier changes one network namespace through its own netlink handle.
type Applier struct {
	h   *netlink.Handle
	log func(format string, args ...any)
	// sysctlDir is /proc/sys of the handle's namespace (tests use a
	// directory of their own).
	sysctlDir string
}

// New returns an Applier on handle h (from netlink.NewHandle, for init's
// own namespace). log receives one line per change.
func New(h *netlink.Handle, log func(string, ...any)) *Applier {
	return &Applier{h: h, log: log, sysctlDir: "/proc/sys"}
}

// Apply reconciles links, addresses and routes with cfg. It goes on after
// an error on one item, so one bad interface does not keep the others
// down, and returns all errors joined.
func (a *Applier) Apply(cfg Config) error {
	var errs []error
	for _, ifc := range cfg.Interfaces {
		if err := a.applyInterface(ifc); err != nil {
			errs = append(errs, fmt.Errorf("interface %s: %w", ifc.Name, err))
		}
	}
	if err := a.applyRoutes(cfg.Routes); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (a *Applier) applyInterface(ifc Interface) error {
	link, err := a.h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("no such link: %w", err)
	}
	if ifc.MTU != 0 && link.Attrs().MTU != ifc.MTU {
		if err := a.h.LinkSetMTU(link, ifc.MTU); err != nil {
			return fmt.Errorf("set mtu %d: %w", ifc.MTU, err)
		}
		a.log("%s: mtu %d", ifc.Name, ifc.MTU)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := a.h.LinkSetUp(link); err != nil {
			return fmt.Errorf("set up: %w", err)
		}
		a.log("%s: up", ifc.Name)
	}
	if err := a.disableAutoconf(ifc.Name); err != nil {
		return err
	}
	have, err := retryDump(func() ([]netlink.Addr, error) { return a.h.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range ifc.Addresses {
		want[p] = true
	}
	var errs []error
	for _, addr := range have {
		p, ok := prefixOf(addr.IPNet)
		if !ok || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		if want[p] {
			delete(want, p)
			continue
		}
		if err := a.h.AddrDel(link, &addr); err != nil {
			errs = append(errs, fmt.Errorf("remove address %s: %w", p, err))
			continue
		}
		a.log("%s: removed address %s", ifc.Name, p)
	}
	for _, p := range sortedPrefixes(want) {
		addr := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			// No duplicate address detection delay: the address is usable
			// at once, so IKE can bind to it right after a commit.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := a.h.AddrAdd(link, addr); err != nil {
			errs = append(errs, fmt.Errorf("add address %s: %w", p, err))
			continue
		}
		a.log("%s: added address %s", ifc.Name, p)
	}
	return errors.Join(errs...)
}

// disableAutoconf stops the kernel from adding IPv6 addresses of its own
// (SLAAC, from router advertisements) to an interface whose addresses the
// config owns: otherwise each apply removes them and the next
// advertisement brings them back. Without IPv6 there is nothing to do.
func (a *Applier) disableAutoconf(name string) error {
	p := filepath.Join(a.sysctlDir, "net/ipv6/conf", name, "autoconf")
	cur, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read IPv6 autoconf setting: %w", err)
	}
	if strings.TrimSpace(string(cur)) == "0" {
		return nil
	}
	if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
		return fmt.Errorf("turn IPv6 address autoconfiguration off: %w", err)
	}
	a.log("%s: IPv6 address autoconfiguration off", name)
	return nil
}

// maxDumpTries bounds retries of a netlink dump the kernel interrupted.
const maxDumpTries = 5

// retryDump runs a netlink dump again while the kernel reports that the
// table changed underneath it (NLM_F_DUMP_INTR, netlink.ErrDumpInterrupted:
// the result may be incomplete). It happens when, say, an IPv6 router
// advertisement adds an address during the listing; reconciling against a
// partial list would add or remove the wrong things.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for try := 1; ; try++ {
		items, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == maxDumpTries {
			if err != nil && try > 1 {
				err = fmt.Errorf("%w (after %d tries)", err, try)
			}
			return items, err
		}
	}
}

// routeKey identifies a route for reconciling.
type routeKey struct {
	dst     netip.Prefix
	gateway netip.Addr
	ifindex int
	metric  int
}

func (a *Applier) applyRoutes(routes []Route) error {
	want := map[routeKey]Route{}
	var errs []error
	for _, r := range routes {
		k := routeKey{dst: r.Dst.Masked(), gateway: r.Gateway, metric: r.Metric}
		if r.Interface != "" {
			link, err := a.h.LinkByName(r.Interface)
			if err != nil {
				errs = append(errs, fmt.Errorf("route %s: interface %s: %w", r.Dst, r.Interface, err))
				continue
			}
			k.ifindex = link.Attrs().Index
		}
		want[k] = r
	}
	have, err := retryDump(func() ([]netlink.Route, error) {
		return a.h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: unix.RTPROT_STATIC, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list routes: %w", err))...)
	}
	for _, hr := range have {
		k := keyOf(hr)
		if _, ok := want[k]; ok {
			// Matching an existing route by interface too: a wanted route
			// without an interface matches whatever link the kernel chose.
			delete(want, k)
			continue
		}
		if kk := (routeKey{dst: k.dst, gateway: k.gateway, metric: k.metric}); hasKey(want, kk) {
			delete(want, kk)
			continue
		}
		if err := a.h.RouteDel(&hr); err != nil {
			errs = append(errs, fmt.Errorf("remove route %s: %w", k.dst, err))
			continue
		}
		a.log("removed route %s", k.dst)
	}
	keys := make([]routeKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].dst.String() < keys[j].dst.String() })
	for _, k := range keys {
		nr := &netlink.Route{Dst: ipNet(k.dst), Protocol: unix.RTPROT_STATIC, Priority: k.metric, LinkIndex: k.ifindex}
		if k.gateway.IsValid() {
			nr.Gw = k.gateway.AsSlice()
		} else {
			nr.Scope = netlink.SCOPE_LINK
		}
		if err := a.h.RouteReplace(nr); err != nil {
			errs = append(errs, fmt.Errorf("add route %s: %w", k.dst, err))
			continue
		}
		a.log("added route %s", k.dst)
	}
	return errors.Join(errs...)
}

func hasKey(m map[routeKey]Route, k routeKey) bool {
	_, ok := m[k]
	return ok
}

func keyOf(r netlink.Route) routeKey {
	var k routeKey
	if r.Dst != nil {
		k.dst, _ = prefixOf(r.Dst)
	} else if r.Family == unix.AF_INET6 {
		k.dst = netip.MustParsePrefix("::/0")
	} else {
		k.dst = netip.MustParsePrefix("0.0.0.0/0")
	}
	if gw, ok := netip.AddrFromSlice(r.Gw); ok {
		k.gateway = gw.Unmap()
	}
	k.ifindex = r.LinkIndex
	k.metric = r.Priority
	return k
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

func sortedPrefixes(m map[netip.Prefix]bool) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
