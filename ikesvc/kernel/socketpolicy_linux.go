package kernel

import (
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// BypassSocket gives the socket fd per-socket XFRM policies that allow
// everything in both directions, so its traffic passes beside the kernel's
// IPsec policies. IKE sockets need this (strongSwan's socket plugins do the
// same): a host-to-host policy would otherwise catch the IKE_AUTH response,
// sent just after the responder installed it, and every later IKE message
// between the two hosts. ipv6 selects IPV6_XFRM_POLICY for an AF_INET6
// socket. The policy is an xfrm_userpolicy_info in the running GOARCH's
// layout (164 bytes on i386). A kernel without XFRM fails with ENOPROTOOPT,
// which the error wraps.
func BypassSocket(fd int, ipv6 bool) error {
	level, opt, family := unix.IPPROTO_IP, unix.IP_XFRM_POLICY, uint16(unix.AF_INET)
	if ipv6 {
		level, opt, family = unix.IPPROTO_IPV6, unix.IPV6_XFRM_POLICY, uint16(unix.AF_INET6)
	}
	for _, dir := range []Direction{DirIn, DirOut} {
		p := socketBypassPolicy(family, dir)
		if err := unix.SetsockoptString(fd, level, opt, string(structBytes(&p))); err != nil {
			return fmt.Errorf("kernel: per-socket IPsec bypass policy (family %d, dir %s) on fd %d: %w", family, dir, fd, err)
		}
	}
	return nil
}

// socketBypassPolicy is an allow policy matching everything of family, with
// no templates and no lifetime limits.
func socketBypassPolicy(family uint16, dir Direction) xfrmUserpolicyInfo {
	p := xfrmUserpolicyInfo{Dir: uint8(dir), Action: uint8(ActionAllow)}
	p.Sel.Family = family
	p.Lft.SoftByteLimit, p.Lft.HardByteLimit = nl.XFRM_INF, nl.XFRM_INF
	p.Lft.SoftPacketLimit, p.Lft.HardPacketLimit = nl.XFRM_INF, nl.XFRM_INF
	return p
}
