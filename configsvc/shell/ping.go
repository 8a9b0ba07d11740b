package shell

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func (sh *Shell) ping(args []string) error {
	count := 3
	switch {
	case len(args) == 1:
	case len(args) == 3 && args[1] == "count":
		n, err := strconv.Atoi(args[2])
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("ping count %q: must be 1..100", args[2])
		}
		count = n
	default:
		return fmt.Errorf("usage: ping <address> [count <1-100>]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count+2)*time.Second)
	defer cancel()
	return sh.env.Ping(ctx, sh.out, args[0], count)
}

// icmpPing pings host once a second with a raw ICMP socket (needs
// CAP_NET_RAW; the CLI runs as root on the appliance).
func icmpPing(ctx context.Context, w io.Writer, host string, count int) error {
	return pingEvery(ctx, w, host, count, time.Second)
}

func pingEvery(ctx context.Context, w io.Writer, host string, count int, interval time.Duration) error {
	dst, err := net.ResolveIPAddr("ip", host)
	if err != nil {
		return fmt.Errorf("ping %s: not an address: %w", host, err)
	}
	network, laddr, echoType, replyType := "ip4:icmp", "0.0.0.0", byte(8), byte(0)
	if dst.IP.To4() == nil {
		network, laddr, echoType, replyType = "ip6:ipv6-icmp", "::", 128, 129
	}
	conn, err := net.ListenPacket(network, laddr)
	if err != nil {
		return fmt.Errorf("ping %s: opening raw ICMP socket: %w", host, err)
	}
	defer conn.Close()
	id := uint16(os.Getpid())
	fmt.Fprintf(w, "PING %s: 56 data bytes\n", dst)
	received := 0
	buf := make([]byte, 1500)
	for seq := 1; seq <= count; seq++ {
		msg := echoRequest(echoType, id, uint16(seq), dst.IP.To4() != nil)
		sent := time.Now()
		if _, err := conn.WriteTo(msg, dst); err != nil {
			fmt.Fprintf(w, "icmp_seq=%d: send failed: %v\n", seq, err)
		} else if rtt, n, ok := awaitReply(ctx, conn, buf, replyType, id, uint16(seq), sent, interval); ok {
			received++
			fmt.Fprintf(w, "%d bytes from %s: icmp_seq=%d time=%.3f ms\n", n, dst, seq, float64(rtt.Microseconds())/1000)
		} else {
			fmt.Fprintf(w, "icmp_seq=%d: no reply\n", seq)
		}
		if ctx.Err() != nil {
			break
		}
		if seq < count {
			select {
			case <-time.After(time.Until(sent.Add(interval))):
			case <-ctx.Done():
			}
		}
	}
	loss := 100 * (count - received) / count
	fmt.Fprintf(w, "--- %s ping statistics ---\n%d packets transmitted, %d received, %d%% packet loss\n", dst, count, received, loss)
	if received == 0 {
		return errors.New("no replies")
	}
	return nil
}

// echoRequest builds an ICMP(v6) echo request with 56 bytes of payload.
// The ICMPv6 checksum is filled in by the kernel.
func echoRequest(typ byte, id, seq uint16, v4 bool) []byte {
	b := make([]byte, 8+56)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i)
	}
	if v4 {
		binary.BigEndian.PutUint16(b[2:], icmpChecksum(b))
	}
	return b
}

func icmpChecksum(b []byte) uint16 {
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

// awaitReply reads until the matching echo reply arrives or the wait for
// this sequence number ends; raw sockets also see unrelated ICMP.
func awaitReply(ctx context.Context, conn net.PacketConn, buf []byte, typ byte, id, seq uint16, sent time.Time, wait time.Duration) (time.Duration, int, bool) {
	deadline := sent.Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetReadDeadline(deadline)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return 0, 0, false
		}
		if n >= 8 && buf[0] == typ && binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
			return time.Since(sent), n, true
		}
	}
}
