package shell

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PingOptions says how many echo requests ping sends and how often.
type PingOptions struct {
	Count    int
	Interval time.Duration
	// Uptime is the system's uptime when ping starts (0: unknown). In
	// quiet mode each loss is stamped with the uptime of its request, as
	// dmesg stamps kernel messages, so that losses line up with events.
	Uptime time.Duration
}

// Limits of ping's arguments. Below quietBelow an interval prints only
// the losses and the statistics: 100 lines a second would flood a 38400
// baud console.
const (
	maxPingCount    = 65535 // the ICMP sequence number is 16 bits
	minPingInterval = 10 * time.Millisecond
	maxPingInterval = 10 * time.Second
	quietBelow      = 200 * time.Millisecond
	// replyWait is how long a reply may take before its request counts
	// as lost (at least the interval).
	replyWait = 2 * time.Second
)

func (sh *Shell) ping(args []string) error {
	const usage = "usage: ping <address> [count <1-65535>] [interval <10-10000 ms>]"
	if len(args) == 0 || len(args)%2 == 0 {
		return errors.New(usage)
	}
	opts := PingOptions{Count: 3, Interval: time.Second}
	for i := 1; i < len(args); i += 2 {
		n, err := strconv.Atoi(args[i+1])
		switch args[i] {
		case "count":
			if err != nil || n < 1 || n > maxPingCount {
				return fmt.Errorf("ping count %q: must be 1..%d", args[i+1], maxPingCount)
			}
			opts.Count = n
		case "interval":
			d := time.Duration(n) * time.Millisecond
			if err != nil || d < minPingInterval || d > maxPingInterval {
				return fmt.Errorf("ping interval %q: must be %d..%d milliseconds", args[i+1], minPingInterval.Milliseconds(), maxPingInterval.Milliseconds())
			}
			opts.Interval = d
		default:
			return errors.New(usage)
		}
	}
	opts.Uptime, _ = readUptimePrecise(sh.env.ProcRoot)
	// SIGINT or SIGTERM stops the sending and prints the statistics, as
	// Ctrl-C does to iputils' ping (a ping run from the shell in the
	// background is stopped with kill -INT).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(opts.Count)*opts.Interval+time.Second)
	defer cancel()
	return sh.env.Ping(ctx, sh.out, args[0], opts)
}

// readUptimePrecise reads /proc/uptime to its hundredths of a second.
func readUptimePrecise(proc string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(proc, "uptime"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("empty uptime")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime %q: %w", f[0], err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// icmpPing pings host with a raw ICMP socket (needs CAP_NET_RAW; the CLI
// runs as root on the appliance).
func icmpPing(ctx context.Context, w io.Writer, host string, opts PingOptions) error {
	return pingEvery(ctx, w, host, opts)
}

// Ping is the CLI's ping for other programs: the benchmarks measure a
// strongSwan peer on the host with the same accounting as the boards.
func Ping(ctx context.Context, w io.Writer, host string, opts PingOptions) error {
	return pingEvery(ctx, w, host, opts)
}

// echoReply is one matching reply, as the reading goroutine saw it.
type echoReply struct {
	seq uint16
	n   int
	at  time.Time
}

// pingEvery sends opts.Count echo requests, one every opts.Interval
// whatever the replies do (a lost reply does not delay the next request),
// and accounts for every sequence number: a request is answered when its
// reply comes within replyWait, else lost.
func pingEvery(ctx context.Context, w io.Writer, host string, opts PingOptions) error {
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
	quiet := opts.Interval < quietBelow
	wait := max(replyWait, opts.Interval)
	if quiet {
		fmt.Fprintf(w, "PING %s: 56 data bytes every %v, listing only losses\n", dst, opts.Interval)
	} else {
		fmt.Fprintf(w, "PING %s: 56 data bytes\n", dst)
	}

	replies := make(chan echoReply, 64)
	done := make(chan struct{})
	defer close(done)
	go readReplies(conn, replyType, id, replies, done)

	start := time.Now()
	sentAt := make([]time.Time, opts.Count+1) // by sequence number
	answered := make([]bool, opts.Count+1)
	var lost []int
	sent, received, oldest := 0, 0, 1 // oldest: first request not yet accounted for
	stamp := func(seq int) string {
		if !quiet || opts.Uptime == 0 {
			return ""
		}
		return fmt.Sprintf("[%.3f] ", (opts.Uptime + sentAt[seq].Sub(start)).Seconds())
	}
	// expire declares lost what waited longer than wait. In quiet mode a
	// run of losses prints a line when it starts and one when it ends, so
	// that a long outage stays two lines on the console.
	runFirst, runLast := 0, 0
	endRun := func() {
		if quiet && runLast > runFirst {
			fmt.Fprintf(w, "%sicmp_seq=%d-%d: no reply (%d lost)\n", stamp(runFirst), runFirst, runLast, runLast-runFirst+1)
		}
		runFirst, runLast = 0, 0
	}
	expire := func(now time.Time) {
		for ; oldest <= sent; oldest++ {
			if answered[oldest] {
				endRun()
				continue
			}
			if now.Sub(sentAt[oldest]) < wait {
				return
			}
			lost = append(lost, oldest)
			if quiet && runFirst != 0 && runLast == oldest-1 {
				runLast = oldest
				continue
			}
			endRun()
			runFirst, runLast = oldest, oldest
			fmt.Fprintf(w, "%sicmp_seq=%d: no reply\n", stamp(oldest), oldest)
		}
	}
	next := time.NewTimer(0)
	defer next.Stop()
	check := time.NewTicker(min(opts.Interval, 100*time.Millisecond))
	defer check.Stop()
	// ctx ends the sending early (Ctrl-C, kill -INT); the replies to what
	// was sent are still awaited, so that stopping loses nothing.
	sending, stop := next.C, ctx.Done()
	for sending != nil || oldest <= sent {
		select {
		case <-sending:
			sent++
			sentAt[sent] = time.Now()
			if _, err := conn.WriteTo(echoRequest(echoType, id, uint16(sent), dst.IP.To4() != nil), dst); err != nil && !quiet {
				fmt.Fprintf(w, "icmp_seq=%d: send failed: %v\n", sent, err)
			}
			if sent < opts.Count {
				// On schedule from the start: a late wake-up does not
				// stretch the interval of the requests after it.
				next.Reset(time.Until(start.Add(time.Duration(sent) * opts.Interval)))
			} else {
				sending = nil
			}
		case r := <-replies:
			seq := int(r.seq)
			if seq < oldest || seq > sent || answered[seq] {
				continue // duplicate, late, or not ours
			}
			answered[seq] = true
			received++
			if !quiet {
				rtt := r.at.Sub(sentAt[seq])
				fmt.Fprintf(w, "%d bytes from %s: icmp_seq=%d time=%.3f ms\n", r.n, dst, seq, float64(rtt.Microseconds())/1000)
			}
		case <-check.C:
		case <-stop:
			sending, stop = nil, nil
		}
		expire(time.Now())
	}
	endRun()
	loss := 100 * float64(sent-received) / float64(max(sent, 1))
	fmt.Fprintf(w, "--- %s ping statistics ---\n%d packets transmitted, %d received, %.4g%% packet loss, %d lost\n", dst, sent, received, loss, len(lost))
	if len(lost) > 0 && quiet {
		fmt.Fprintf(w, "lost icmp_seq: %s\n", seqRanges(lost))
	}
	if received == 0 {
		return errors.New("no replies")
	}
	return nil
}

// readReplies passes the echo replies for id to replies until conn is
// closed; raw sockets also see unrelated ICMP.
func readReplies(conn net.PacketConn, typ byte, id uint16, replies chan<- echoReply, done <-chan struct{}) {
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 8 || buf[0] != typ || binary.BigEndian.Uint16(buf[4:]) != id {
			continue
		}
		select {
		case replies <- echoReply{seq: binary.BigEndian.Uint16(buf[6:]), n: n, at: time.Now()}:
		case <-done:
			return
		}
	}
}

// seqRanges writes sorted sequence numbers as ranges: "3-5, 9".
func seqRanges(seqs []int) string {
	var b strings.Builder
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", seqs[i], seqs[j])
		} else {
			fmt.Fprintf(&b, "%d", seqs[i])
		}
		i = j + 1
	}
	return b.String()
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
