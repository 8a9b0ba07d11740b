package main

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestUDPKeepaliveOnTheWire: on the NAT-T socket an IKE message leaves
// with the non-ESP marker and a NAT-keepalive as the single byte 0xFF;
// the IKE port sends no keepalives, and a keepalive received on the NAT-T
// port never reaches the engine.
func TestUDPKeepaliveOnTheWire(t *testing.T) {
	port, natt := freePorts(t)
	local := netip.MustParseAddr("127.0.0.1")
	tr, err := listenUDP(local, port, natt, t.Logf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	from := netip.AddrPortFrom(local, natt)
	msg := bytes.Repeat([]byte{0x42}, 28)

	tests := []struct {
		name string
		send func() error
		want []byte
	}{
		{"keepalive", func() error { return tr.SendKeepalive(from, peerAddr) }, []byte{0xff}},
		{"IKE message", func() error { return tr.Send(msg, from, peerAddr) }, append([]byte{0, 0, 0, 0}, msg...)},
	}
	buf := make([]byte, 2048)
	for _, tt := range tests {
		if err := tt.send(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !bytes.Equal(buf[:n], tt.want) || src.Port() != natt {
			t.Fatalf("%s: got % x from port %d, want % x from %d", tt.name, buf[:n], src.Port(), tt.want, natt)
		}
	}
	if err := tr.SendKeepalive(netip.AddrPortFrom(local, port), peerAddr); err == nil {
		t.Fatal("a keepalive from the IKE port was sent, want an error")
	}

	got := make(chan []byte, 4)
	go tr.Serve(func(packet []byte, _, _ netip.AddrPort) { got <- packet })
	to := net.UDPAddrFromAddrPort(from)
	for _, d := range [][]byte{{0xff}, append([]byte{0, 0, 0, 0}, msg...)} {
		if _, err := peer.WriteToUDP(d, to); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case p := <-got:
		if !bytes.Equal(p, msg) {
			t.Fatalf("the engine got % x, want only the IKE message % x", p, msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the IKE message after the keepalive never arrived")
	}
}
