package ipsectest

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// frame builds an Ethernet frame carrying an IP packet from src to dst
// with protocol proto and payload l4.
func frame(src, dst netip.Addr, proto byte, l4 []byte) []byte {
	eth := make([]byte, 14)
	var ip []byte
	if src.Is4() {
		binary.BigEndian.PutUint16(eth[12:], 0x0800)
		ip = make([]byte, 20)
		ip[0], ip[9] = 0x45, proto
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
	} else {
		binary.BigEndian.PutUint16(eth[12:], 0x86dd)
		ip = make([]byte, 40)
		ip[0], ip[6] = 0x60, proto
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}
	return append(append(eth, ip...), l4...)
}

func pcapFile(order binary.ByteOrder, frames ...[]byte) []byte {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	order.PutUint32(hdr[0:], 0xa1b2c3d4)
	order.PutUint16(hdr[4:], 2)
	order.PutUint16(hdr[6:], 4)
	order.PutUint32(hdr[16:], 65535)
	order.PutUint32(hdr[20:], linkEthernet)
	b.Write(hdr)
	for _, f := range frames {
		rec := make([]byte, 16)
		order.PutUint32(rec[8:], uint32(len(f)))
		order.PutUint32(rec[12:], uint32(len(f)))
		b.Write(rec)
		b.Write(f)
	}
	return b.Bytes()
}

func udp(src, dst uint16, payload ...byte) []byte {
	l4 := make([]byte, 8)
	binary.BigEndian.PutUint16(l4[0:], src)
	binary.BigEndian.PutUint16(l4[2:], dst)
	return append(l4, payload...)
}

func TestClassifyPcap(t *testing.T) {
	a4, b4 := netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("10.77.1.2")
	a6, b6 := netip.MustParseAddr("fd77:1::1"), netip.MustParseAddr("fd77:1::2")
	other := netip.MustParseAddr("10.77.1.9")
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	hosts := [][2]netip.Addr{{a4, b4}, {a6, b6}}
	tests := []struct {
		name        string
		frames      [][]byte
		want        Counts
		unprotected int
	}{
		{"esp both ways", [][]byte{frame(a4, b4, 50, nil), frame(b4, a4, 50, nil), frame(a6, b6, 50, nil)},
			Counts{4: {KindESP: 2}, 6: {KindESP: 1}}, 0},
		{"ike and nat-t", [][]byte{frame(a4, b4, 17, udp(500, 500)), frame(b6, a6, 17, udp(4500, 4500, 0, 0, 0, 0, 1)),
			frame(a4, b4, 17, udp(4500, 4500, 0xff))},
			Counts{4: {KindIKE: 2}, 6: {KindIKE: 1}}, 0},
		{"esp in udp", [][]byte{frame(a4, b4, 17, udp(4500, 4500, 0xc0, 1, 2, 3, 0, 0, 0, 1))},
			Counts{4: {KindESPInUDP: 1}}, 0},
		{"neighbour discovery", [][]byte{frame(a6, b6, 58, []byte{135, 0}), frame(b6, a6, 58, []byte{136, 0})},
			Counts{6: {KindNDP: 2}}, 0},
		{"plaintext ping", [][]byte{frame(a4, b4, 1, []byte{8, 0}), frame(a6, b6, 58, []byte{128, 0})},
			Counts{4: {KindICMP: 1}, 6: {KindICMP: 1}}, 2},
		{"icmp errors about esp and ike, and about plaintext", [][]byte{
			frame(b4, a4, 1, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, frame(a4, b4, 17, udp(4500, 4500, 0xc0, 1, 2, 3))[14:]...)),
			frame(b4, a4, 1, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, frame(a4, b4, 50, nil)[14:]...)),
			frame(b6, a6, 58, append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, frame(a6, b6, 17, udp(500, 500))[14:]...)),
			frame(b4, a4, 1, append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, frame(a4, b4, 17, udp(53, 53))[14:]...)),
			frame(b4, a4, 1, append([]byte{0, 0, 0, 0, 0, 0, 0, 0}, frame(a4, b4, 50, nil)[14:]...))},
			Counts{4: {KindICMPError: 2, KindICMP: 2}, 6: {KindICMPError: 1}}, 2},
		{"plaintext udp and tcp", [][]byte{frame(a4, b4, 17, udp(53, 53)), frame(a4, b4, 6, make([]byte, 20))},
			Counts{4: {KindPlaintext: 2}}, 2},
		{"arp and other hosts ignored", [][]byte{arp, frame(a4, other, 1, []byte{8, 0}), frame(other, b4, 1, nil)},
			Counts{}, 0},
	}
	for _, tc := range tests {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			t.Run(tc.name+"/"+order.String(), func(t *testing.T) {
				got, err := ClassifyPcap(bytes.NewReader(pcapFile(order, tc.frames...)), hosts...)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("counts %v, want %v", got, tc.want)
				}
				for v, kinds := range tc.want {
					for k, n := range kinds {
						if got[v][k] != n {
							t.Errorf("IPv%d %s: %d, want %d (all: %v)", v, k, got[v][k], n, got)
						}
					}
				}
				if u := got.Unprotected(); u != tc.unprotected {
					t.Errorf("Unprotected() = %d, want %d", u, tc.unprotected)
				}
			})
		}
	}
}

func TestClassifyPcapRejectsBadFiles(t *testing.T) {
	good := pcapFile(binary.LittleEndian, frame(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 50, nil))
	notEthernet := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(notEthernet[20:], 101)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte{1, 2, 3, 4}, good[4:]...)},
		{"not ethernet", notEthernet},
		{"truncated record", good[:len(good)-3]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ClassifyPcap(bytes.NewReader(tc.data)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestChecksum(t *testing.T) {
	// RFC 1071's example bytes sum to 0xddf2; the checksum is its complement.
	if got := checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != ^uint16(0xddf2) {
		t.Fatalf("checksum = %#04x, want %#04x", got, ^uint16(0xddf2))
	}
	// A message with its checksum filled in sums to zero.
	if got := checksum(echoRequest(7, 9)); got != 0 {
		t.Fatalf("checksum over a finished echo request = %#04x, want 0", got)
	}
}
