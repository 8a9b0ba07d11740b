package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/init/fdstore"
)

// nonESPMarker precedes IKE messages on the NAT-T port (RFC 3948 2.2), so
// the kernel's ESP-in-UDP decapsulation leaves them to us.
var nonESPMarker = []byte{0, 0, 0, 0}

// natKeepalive is the whole NAT-keepalive datagram (RFC 3948 2.3): one
// 0xFF byte and no non-ESP marker, which is how the peer's kernel tells it
// from IKE (marker) and ESP (an SPI) on the NAT-T port.
var natKeepalive = []byte{0xff}

// udpSocket is one bound socket: one family, one port.
type udpSocket struct {
	conn     *net.UDPConn
	v4       bool
	port     uint16
	natt     bool
	wildcard bool // bound to the unspecified address: use pktinfo
}

// udpTransport is ikesvc's IKE I/O: sockets on the IKE and NAT-T ports for
// IPv4 and IPv6. It implements ike.Transport and ike.KeepaliveSender.
type udpTransport struct {
	sockets []*udpSocket
	logf    func(string, ...any)
}

var _ ike.KeepaliveSender = (*udpTransport)(nil)

// listenUDP opens the sockets. listen, when valid, is the one address to
// bind (and so the one family); otherwise both wildcards are bound and an
// IPv6 failure (no IPv6 on the host) is only logged. A socket inherited
// from an earlier run (inherited, nil when none) that is the one wanted
// is used instead of a new one; the others are closed (one log line)
// before the missing sockets are opened, so that they free their ports.
func listenUDP(listen netip.Addr, port, nattPort uint16, logf func(string, ...any), inherited *inheritedSockets) (*udpTransport, error) {
	t := &udpTransport{logf: logf}
	families := []bool{true, false}
	if listen.IsValid() {
		families = []bool{listen.Unmap().Is4()}
	}
	var specs []socketSpec
	for _, v4 := range families {
		for _, p := range []uint16{port, nattPort} {
			specs = append(specs, socketSpec{listen: listen, v4: v4, port: p, natt: p == nattPort})
		}
	}
	sockets := make([]*udpSocket, len(specs))
	for i, spec := range specs {
		var err error
		if sockets[i], err = inherited.adopt(spec); err != nil {
			logf("ikesvc: %v; opening it afresh", err)
		}
	}
	if line := inherited.closeRest(); line != "" {
		logf("ikesvc: %s", line)
	}
	for i, spec := range specs {
		s := sockets[i]
		var err error
		if s == nil {
			s, err = openSocket(spec)
		}
		if err != nil {
			if !spec.v4 && !listen.IsValid() {
				logf("no IPv6 IKE socket on port %d: %v", spec.port, err)
				continue
			}
			for _, o := range sockets[i+1:] {
				if o != nil {
					o.conn.Close()
				}
			}
			t.Close()
			return nil, err
		}
		t.sockets = append(t.sockets, s)
	}
	return t, nil
}

// socketSpec is one socket ikesvc wants: family, bound address, port,
// and whether it is the NAT-T one.
type socketSpec struct {
	listen netip.Addr // invalid: the family's wildcard
	v4     bool
	port   uint16
	natt   bool
}

// network is "udp4" or "udp6".
func (sp socketSpec) network() string {
	if sp.v4 {
		return "udp4"
	}
	return "udp6"
}

// bind is the address the socket is bound to.
func (sp socketSpec) bind() netip.AddrPort {
	switch {
	case sp.listen.IsValid():
		return netip.AddrPortFrom(sp.listen.Unmap(), sp.port)
	case sp.v4:
		return netip.AddrPortFrom(netip.IPv4Unspecified(), sp.port)
	}
	return netip.AddrPortFrom(netip.IPv6Unspecified(), sp.port)
}

// name is the socket's name in the fd store.
func (sp socketSpec) name() string {
	kind := "ike"
	if sp.natt {
		kind = "natt"
	}
	return fmt.Sprintf("%s-%s-%d", kind, sp.network(), sp.port)
}

// prepareSocket sets what ikesvc needs on the socket fd: the destination
// address of each datagram, the IPsec bypass, and on the NAT-T socket the
// kernel's ESP-in-UDP decapsulation. Setting them again on an inherited
// socket changes nothing.
func prepareSocket(fd int, v4, natt bool) error {
	var err error
	if v4 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	}
	if err != nil {
		return fmt.Errorf("setting pktinfo: %w", err)
	}
	// IKE itself must pass beside the kernel's IPsec policies (as
	// strongSwan's sockets do): a host-to-host policy would otherwise
	// catch the IKE_AUTH response the responder sends right after
	// installing it, and every later IKE message. A host kernel without
	// XFRM (-kernel memory) has nothing to bypass.
	if err := kernel.BypassSocket(fd, !v4); err != nil && !errors.Is(err, unix.ENOPROTOOPT) {
		return fmt.Errorf("IPsec bypass policy: %w", err)
	}
	if natt {
		// The kernel decapsulates ESP-in-UDP on this socket and passes
		// up only what starts with the non-ESP marker.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP); err != nil {
			return fmt.Errorf("setting UDP_ENCAP: %w", err)
		}
	}
	return nil
}

// prepareRaw runs prepareSocket on a socket's descriptor.
func prepareRaw(rc syscall.RawConn, v4, natt bool) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = prepareSocket(int(fd), v4, natt) }); err != nil {
		return err
	}
	return serr
}

func openSocket(spec socketSpec) (*udpSocket, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return prepareRaw(rc, spec.v4, spec.natt)
	}}
	addr := net.UDPAddrFromAddrPort(spec.bind())
	pc, err := lc.ListenPacket(context.Background(), spec.network(), addr.String())
	if err != nil {
		return nil, fmt.Errorf("IKE socket %s %s: %w", spec.network(), addr, err)
	}
	return spec.socket(pc.(*net.UDPConn)), nil
}

func (sp socketSpec) socket(c *net.UDPConn) *udpSocket {
	return &udpSocket{conn: c, v4: sp.v4, port: sp.port, natt: sp.natt, wildcard: !sp.listen.IsValid()}
}

// named lists the sockets for the fd store.
func (t *udpTransport) named() []fdstore.Named {
	var set []fdstore.Named
	for _, s := range t.sockets {
		spec := socketSpec{v4: s.v4, port: s.port, natt: s.natt}
		set = append(set, fdstore.Named{Name: spec.name(), Conn: s.conn})
	}
	return set
}

// Close closes every socket (ending the receive loops).
func (t *udpTransport) Close() error {
	for _, s := range t.sockets {
		s.conn.Close()
	}
	return nil
}

// Send implements ike.Transport: on the NAT-T port the IKE message gets
// the non-ESP marker.
func (t *udpTransport) Send(packet []byte, from, to netip.AddrPort) error {
	s, err := t.socketFor(from, to)
	if err != nil {
		return err
	}
	if s.natt {
		packet = append(append(make([]byte, 0, len(packet)+4), nonESPMarker...), packet...)
	}
	return s.write(packet, from, to)
}

// SendKeepalive implements ike.KeepaliveSender: the single 0xFF byte,
// without the non-ESP marker, and only from the NAT-T port.
func (t *udpTransport) SendKeepalive(from, to netip.AddrPort) error {
	s, err := t.socketFor(from, to)
	if err != nil {
		return err
	}
	if !s.natt {
		return fmt.Errorf("NAT-keepalive %v -> %v: not from the NAT-T port", from, to)
	}
	return s.write(natKeepalive, from, to)
}

// socketFor is the socket of from's port in to's family.
func (t *udpTransport) socketFor(from, to netip.AddrPort) (*udpSocket, error) {
	v4 := to.Addr().Unmap().Is4()
	for _, c := range t.sockets {
		if c.v4 == v4 && c.port == from.Port() {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no socket for %v -> %v", from, to)
}

// write sends one datagram as it is, from from's address when the socket
// is bound to the wildcard.
func (s *udpSocket) write(packet []byte, from, to netip.AddrPort) error {
	var oob []byte
	if s.wildcard && from.Addr().IsValid() {
		if s.v4 {
			oob = unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: from.Addr().Unmap().As4()})
		} else {
			oob = unix.PktInfo6(&unix.Inet6Pktinfo{Addr: from.Addr().As16()})
		}
	}
	dst := to
	if s.v4 {
		dst = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	}
	_, _, err := s.conn.WriteMsgUDPAddrPort(packet, oob, dst)
	return err
}

// Serve reads datagrams on every socket and hands IKE messages to handle
// until the sockets are closed.
func (t *udpTransport) Serve(handle func(packet []byte, from, to netip.AddrPort)) {
	var wg sync.WaitGroup
	for _, s := range t.sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.serveSocket(s, handle)
		}()
	}
	wg.Wait()
}

func (t *udpTransport) serveSocket(s *udpSocket, handle func(packet []byte, from, to netip.AddrPort)) {
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	local, _ := netip.ParseAddrPort(s.conn.LocalAddr().String())
	for {
		n, oobn, _, from, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			t.logf("reading IKE socket %v: %v", local, err)
			continue
		}
		data := buf[:n]
		if s.natt {
			if n == 1 && data[0] == 0xff {
				continue // NAT keepalive (RFC 3948 2.3)
			}
			if n < 4 || [4]byte(data[:4]) != [4]byte{} {
				continue // ESP the kernel did not take (no SA): not ours
			}
			data = data[4:]
		}
		to := local
		if dst, ok := pktinfoDst(oob[:oobn]); ok {
			to = netip.AddrPortFrom(dst, s.port)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		// The engine takes ownership of the packet (it decrypts in place).
		handle(append([]byte(nil), data...), from, to)
	}
}

// pktinfoDst returns the destination address from an IP_PKTINFO or
// IPV6_PKTINFO control message.
func pktinfoDst(oob []byte) (netip.Addr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			var a [4]byte
			copy(a[:], m.Data[8:12]) // struct in_pktinfo: ifindex, spec_dst, addr
			return netip.AddrFrom4(a), true
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			var a [16]byte
			copy(a[:], m.Data[0:16]) // struct in6_pktinfo: addr, ifindex
			return netip.AddrFrom16(a), true
		}
	}
	return netip.Addr{}, false
}

// localAddrTowards picks our source address for remote the way the kernel
// would route a packet to it (a connected UDP socket sends nothing).
func localAddrTowards(remote netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 500)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}
