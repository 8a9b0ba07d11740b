package ipsectest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// pingFromNamespace sends count ICMP echo requests to the IPv4 address dst
// from inside the named network namespace (ip netns) and returns how many
// replies came back; the host may have no ping command. The socket is
// made on a thread moved into the namespace; that thread is never handed
// back to the scheduler (no UnlockOSThread), so it ends with the
// goroutine and no other code runs in the namespace.
func pingFromNamespace(ns string, dst netip.Addr, count int) (int, error) {
	type result struct {
		replies int
		err     error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		n, err := pingInNamespace(ns, dst, count)
		done <- result{n, err}
	}()
	r := <-done
	return r.replies, r.err
}

func pingInNamespace(ns string, dst netip.Addr, count int) (int, error) {
	fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		return 0, fmt.Errorf("enter namespace %s: %w", ns, err)
	}
	conn, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return 0, fmt.Errorf("ICMP socket in %s: %w", ns, err)
	}
	defer conn.Close()
	id := uint16(os.Getpid())
	replies := 0
	buf := make([]byte, 1500)
	for seq := uint16(1); seq <= uint16(count); seq++ {
		if _, err := conn.WriteTo(echoRequest(id, seq), &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return replies, fmt.Errorf("ping %s from %s: %w", dst, ns, err)
		}
		deadline := time.Now().Add(3 * time.Second)
		if err := conn.SetReadDeadline(deadline); err != nil {
			return replies, err
		}
		for {
			n, from, err := conn.ReadFrom(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if err != nil {
				return replies, fmt.Errorf("ping %s from %s: %w", dst, ns, err)
			}
			// Go strips the IPv4 header: buf holds the ICMP message.
			if n >= 8 && buf[0] == 0 && from.String() == dst.String() &&
				binary.BigEndian.Uint16(buf[4:6]) == id && binary.BigEndian.Uint16(buf[6:8]) == seq {
				replies++
				break
			}
		}
	}
	return replies, nil
}

// echoRequest is an ICMPv4 echo request with 56 bytes of payload.
func echoRequest(id, seq uint16) []byte {
	msg := make([]byte, 8+56)
	msg[0] = 8
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	for i := 8; i < len(msg); i++ {
		msg[i] = byte(i)
	}
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	return msg
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
