package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"alixsec.dev/init/fdstore"
)

// inheritedSockets are the descriptors init's fd store passed from an
// earlier run: the IKE sockets that stayed open (and bound) while no
// ikesvc ran, so the kernel went on decapsulating ESP in UDP on the NAT-T
// port and queued the IKE messages that came meanwhile. A nil
// *inheritedSockets holds none (a host run).
type inheritedSockets struct {
	files []fdstore.File
}

// adopt takes the inherited socket that is spec's, with ikesvc's options
// set on it again; nil (and no error) when there is none.
func (in *inheritedSockets) adopt(spec socketSpec) (*udpSocket, error) {
	if in == nil {
		return nil, nil
	}
	for i, f := range in.files {
		rc, err := f.File.SyscallConn()
		if err != nil {
			continue
		}
		var why string
		if err := rc.Control(func(fd uintptr) { why = spec.mismatch(int(fd)) }); err != nil || why != "" {
			continue
		}
		in.files = append(in.files[:i:i], in.files[i+1:]...)
		pc, err := net.FilePacketConn(f.File)
		f.File.Close()
		if err != nil {
			return nil, fmt.Errorf("inherited IKE socket %s: %w", f.Name, err)
		}
		c, ok := pc.(*net.UDPConn)
		if !ok {
			pc.Close()
			return nil, fmt.Errorf("inherited IKE socket %s: not UDP", f.Name)
		}
		crc, err := c.SyscallConn()
		if err == nil {
			err = prepareRaw(crc, spec.v4, spec.natt)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("inherited IKE socket %s: %w", f.Name, err)
		}
		return spec.socket(c), nil
	}
	return nil, nil
}

// closeRest closes what no wanted socket adopted and says so in one line
// ("" when nothing was left).
func (in *inheritedSockets) closeRest() string {
	if in == nil || len(in.files) == 0 {
		return ""
	}
	var names []string
	for _, f := range in.files {
		what := "?"
		if rc, err := f.File.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { what = describeSocket(int(fd)) })
		}
		names = append(names, f.Name+" ("+what+")")
		f.File.Close()
	}
	in.files = nil
	return "inherited sockets not ours, closed: " + strings.Join(names, ", ")
}

// mismatch says how the socket fd differs from spec; "" when it is the
// socket ikesvc would open.
func (sp socketSpec) mismatch(fd int) string {
	want := unix.AF_INET6
	if sp.v4 {
		want = unix.AF_INET
	}
	if d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || d != want {
		return "another family"
	}
	if ty, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || ty != unix.SOCK_DGRAM {
		return "not a datagram socket"
	}
	if p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || p != unix.IPPROTO_UDP {
		return "not UDP"
	}
	bound, err := sockname(fd)
	if err != nil || bound != sp.bind() {
		return fmt.Sprintf("bound to %v, want %v", bound, sp.bind())
	}
	if !sp.v4 {
		// Go's udp6 sockets are IPv6 only; a dual-stack one would take
		// the IPv4 socket's traffic.
		if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err != nil || v != 1 {
			return "not IPv6 only"
		}
	}
	encap, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_ENCAP)
	if err != nil {
		return fmt.Sprintf("UDP_ENCAP: %v", err)
	}
	if wantEncap := map[bool]int{true: unix.UDP_ENCAP_ESPINUDP, false: 0}[sp.natt]; encap != wantEncap {
		return fmt.Sprintf("UDP_ENCAP %d, want %d", encap, wantEncap)
	}
	return ""
}

// sockname is the socket's bound address.
func sockname(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("not an internet socket (%T)", sa)
}

// describeSocket names a socket for the log: its family and address.
func describeSocket(fd int) string {
	ap, err := sockname(fd)
	if err != nil {
		return err.Error()
	}
	return ap.String()
}
