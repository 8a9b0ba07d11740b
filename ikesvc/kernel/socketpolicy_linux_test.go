package kernel

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestBypassSocket blocks traffic to a subnet on a veth pair inside a
// namespace (both ends in it, so nothing leaves) with OUT policies, then sends
// a UDP datagram from a socket with and one without the per-socket bypass:
// only the bypassed one may be sent. (Loopback cannot serve: IPv4 lo skips
// XFRM.)
func TestBypassSocket(t *testing.T) {
	ns, h := newTestNetns(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"}
	if err := h.LinkAdd(veth); err != nil {
		t.Skipf("cannot create a veth pair: %v", err)
	}
	peer, err := h.LinkByName("v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"192.0.2.1/24", "2001:db8::1/64"} {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		addr.Flags = unix.IFA_F_NODAD
		if err := h.AddrAdd(veth, addr); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	n := newTestNetlink(t, ns)
	block := []Policy{
		{Selector: Selector{Src: mustPrefix("0.0.0.0/0"), Dst: mustPrefix("192.0.2.0/24")}, Dir: DirOut, Priority: 1, Action: ActionBlock},
		{Selector: Selector{Src: mustPrefix("::/0"), Dst: mustPrefix("2001:db8::/64")}, Dir: DirOut, Priority: 1, Action: ActionBlock},
	}
	if _, err := n.Apply(context.Background(), Set{Policies: block}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ipv6    bool
		bypass  bool
		wantErr error
	}{
		{"ipv4 plain socket blocked", false, false, unix.EPERM},
		{"ipv4 bypassed", false, true, nil},
		{"ipv6 plain socket blocked", true, false, unix.EPERM},
		{"ipv6 bypassed", true, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sendVethInNetns(t, ns, tt.ipv6, tt.bypass)
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Errorf("send: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestBypassSocketBadFD(t *testing.T) {
	if err := BypassSocket(-1, false); !errors.Is(err, unix.EBADF) {
		t.Errorf("BypassSocket(-1): %v, want EBADF", err)
	}
}

// sendVethInNetns sends one datagram to a neighbour on TestBypassSocket's
// veth from a new socket in ns, after BypassSocket when bypass
// is set.
func sendVethInNetns(t *testing.T, ns netns.NsHandle, ipv6, bypass bool) error {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	family := unix.AF_INET
	var to unix.Sockaddr = &unix.SockaddrInet4{Port: 9, Addr: netip.MustParseAddr("192.0.2.2").As4()}
	if ipv6 {
		family, to = unix.AF_INET6, &unix.SockaddrInet6{Port: 9, Addr: netip.MustParseAddr("2001:db8::2").As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if bypass {
		if err := BypassSocket(fd, ipv6); err != nil {
			t.Fatal(err)
		}
	}
	return unix.Sendto(fd, []byte("bypass?"), 0, to)
}
