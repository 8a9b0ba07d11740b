package ipsectest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Kind is what a frame between the two hosts carries.
type Kind string

// Kinds of traffic between two hosts. Only KindESP, KindIKE and KindNDP
// are expected on a link where every packet between the hosts is
// protected; anything else is plaintext that IPsec should have covered.
const (
	KindESP      Kind = "esp"        // IP protocol 50
	KindIKE      Kind = "ike"        // UDP 500, or UDP 4500 with the non-ESP marker (or a NAT-T keepalive)
	KindESPInUDP Kind = "esp-in-udp" // UDP 4500 without the non-ESP marker (RFC 3948)
	KindNDP      Kind = "ndp"        // ICMPv6 router/neighbour discovery (types 133..137)
	KindICMP     Kind = "icmp"       // ICMP or ICMPv6 other than NDP: a plaintext ping
	// KindICMPError is an ICMP error about an ESP or IKE packet (a port
	// unreachable from a host whose IKE daemon is down): it quotes only
	// the protected packet's headers and ciphertext.
	KindICMPError Kind = "icmp-error-about-esp"
	KindPlaintext Kind = "plaintext" // any other IP protocol
)

// Counts holds, per IP version (4 or 6) and Kind, the frames between the
// two hosts.
type Counts map[int]map[Kind]int

func (c Counts) add(version int, k Kind) {
	if c[version] == nil {
		c[version] = map[Kind]int{}
	}
	c[version][k]++
}

// Unprotected returns the number of frames between the hosts that are
// neither ESP, IKE nor neighbour discovery.
func (c Counts) Unprotected() int {
	n := 0
	for _, byKind := range c {
		n += byKind[KindICMP] + byKind[KindPlaintext]
	}
	return n
}

// pcap's link type for Ethernet, the only one QEMU's filter-dump writes.
const linkEthernet = 1

// ClassifyPcap reads a classic pcap file (either byte order, microsecond
// or nanosecond) of Ethernet frames and counts, by kind, the IPv4 and
// IPv6 packets whose source and destination are the two addresses of a
// pair in hosts (either direction). Other frames (ARP, multicast,
// unrelated hosts) are not counted.
func ClassifyPcap(r io.Reader, hosts ...[2]netip.Addr) (Counts, error) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[0:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap header: magic %x is not a classic pcap", hdr[0:4])
	}
	if lt := order.Uint32(hdr[20:24]); lt != linkEthernet {
		return nil, fmt.Errorf("pcap header: link type %d, want Ethernet (1)", lt)
	}
	counts := Counts{}
	for n := 1; ; n++ {
		var rec [16]byte
		if _, err := io.ReadFull(r, rec[:]); errors.Is(err, io.EOF) {
			return counts, nil
		} else if err != nil {
			return nil, fmt.Errorf("pcap record %d header: %w", n, err)
		}
		capLen := order.Uint32(rec[8:12])
		if capLen > 1<<18 {
			return nil, fmt.Errorf("pcap record %d: captured length %d is implausible", n, capLen)
		}
		frame := make([]byte, capLen)
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil, fmt.Errorf("pcap record %d: %w", n, err)
		}
		if version, kind, src, dst, ok := classifyFrame(frame); ok && between(src, dst, hosts) {
			counts.add(version, kind)
		}
	}
}

func between(src, dst netip.Addr, hosts [][2]netip.Addr) bool {
	for _, h := range hosts {
		if (src == h[0] && dst == h[1]) || (src == h[1] && dst == h[0]) {
			return true
		}
	}
	return false
}

// classifyFrame decodes an Ethernet frame (one optional 802.1Q tag) down
// to the first header after IP. IPv6 extension headers are not walked:
// the firmware sends none between the boards, and an unknown next header
// counts as plaintext, the conservative verdict.
func classifyFrame(f []byte) (version int, kind Kind, src, dst netip.Addr, ok bool) {
	if len(f) < 14 {
		return 0, "", src, dst, false
	}
	etype, off := binary.BigEndian.Uint16(f[12:14]), 14
	if etype == 0x8100 && len(f) >= 18 {
		etype, off = binary.BigEndian.Uint16(f[16:18]), 18
	}
	p := f[off:]
	var proto byte
	var l4 []byte
	switch etype {
	case 0x0800:
		if len(p) < 20 || p[0]>>4 != 4 {
			return 0, "", src, dst, false
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < 20 || len(p) < ihl {
			return 0, "", src, dst, false
		}
		version, proto, l4 = 4, p[9], p[ihl:]
		src, dst = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
	case 0x86dd:
		if len(p) < 40 || p[0]>>4 != 6 {
			return 0, "", src, dst, false
		}
		version, proto, l4 = 6, p[6], p[40:]
		src, dst = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
	default:
		return 0, "", src, dst, false
	}
	switch {
	case proto == 50:
		kind = KindESP
	case proto == 17 && len(l4) >= 8 && isIKEPort(binary.BigEndian.Uint16(l4[0:2])) && isIKEPort(binary.BigEndian.Uint16(l4[2:4])):
		kind = udpKind(l4)
	case proto == 58 && len(l4) >= 1 && l4[0] >= 133 && l4[0] <= 137:
		kind = KindNDP
	case (proto == 1 || proto == 58) && isICMPErrorAboutIPsec(version, l4):
		kind = KindICMPError
	case proto == 1 || proto == 58:
		kind = KindICMP
	default:
		kind = KindPlaintext
	}
	return version, kind, src, dst, true
}

// isICMPErrorAboutIPsec reports whether icmp (an ICMP message of IP
// version) is an error (destination unreachable, packet too big, time
// exceeded, parameter problem) whose quoted packet is ESP, or UDP between
// the IKE ports (IKE or ESP in UDP).
func isICMPErrorAboutIPsec(version int, icmp []byte) bool {
	if len(icmp) < 8 {
		return false
	}
	quoted := icmp[8:]
	var proto byte
	var l4 []byte
	switch t := icmp[0]; version {
	case 4:
		if t != 3 && t != 11 && t != 12 || len(quoted) < 20 || quoted[0]>>4 != 4 {
			return false
		}
		ihl := int(quoted[0]&0x0f) * 4
		if ihl < 20 || len(quoted) < ihl {
			return false
		}
		proto, l4 = quoted[9], quoted[ihl:]
	case 6:
		if t < 1 || t > 4 || len(quoted) < 40 || quoted[0]>>4 != 6 {
			return false
		}
		proto, l4 = quoted[6], quoted[40:]
	default:
		return false
	}
	switch {
	case proto == 50:
		return true
	case proto == 17 && len(l4) >= 4:
		return isIKEPort(binary.BigEndian.Uint16(l4[0:2])) && isIKEPort(binary.BigEndian.Uint16(l4[2:4]))
	}
	return false
}

// udpKind tells IKE from ESP-in-UDP on the IKE ports (RFC 3948): on 4500
// an IKE message starts with the 4-byte non-ESP marker (zero) and a NAT-T
// keepalive is the single byte 0xff; anything else there is ESP, whose SPI
// is never zero.
func udpKind(udp []byte) Kind {
	payload := udp[8:]
	if binary.BigEndian.Uint16(udp[0:2]) != 4500 && binary.BigEndian.Uint16(udp[2:4]) != 4500 {
		return KindIKE
	}
	if (len(payload) == 1 && payload[0] == 0xff) || (len(payload) >= 4 && binary.BigEndian.Uint32(payload) == 0) {
		return KindIKE
	}
	return KindESPInUDP
}

func isIKEPort(p uint16) bool { return p == 500 || p == 4500 }
