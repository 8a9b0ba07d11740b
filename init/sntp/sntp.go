// Package sntp is a small SNTPv4 client (RFC 4330): one request, one
// answer, the clock offset computed from the four timestamps. Certificate
// checks need a correct clock, and a board without a battery starts in
// 1970 (or wherever its RTC stopped).
package sntp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP era 0) to
// 1970-01-01.
const ntpEpochOffset = 2208988800

// Result is one server's answer.
type Result struct {
	Offset  time.Duration // add to the local clock to get the server's
	Delay   time.Duration // round trip, minus the server's processing
	Stratum uint8
}

// Errors a caller may want to tell apart.
var (
	ErrKissOfDeath = errors.New("server sent kiss-of-death (stratum 0)")
	ErrBadReply    = errors.New("malformed or unexpected reply")
)

// Query asks server (host or host:port, default port 123) for the time.
// now is the local clock (time.Now outside tests).
func Query(ctx context.Context, server string, now func() time.Time) (Result, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "123")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return Result{}, fmt.Errorf("sntp %s: %w", server, err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = now().Add(5 * time.Second)
	}
	conn.SetDeadline(deadline)

	req := make([]byte, 48)
	req[0] = 0<<6 | 4<<3 | 3 // LI 0, version 4, mode 3 (client)
	t1 := now()
	// The transmit timestamp doubles as a nonce: the reply must echo it.
	putTimestamp(req[40:], t1)
	if _, err := conn.Write(req); err != nil {
		return Result{}, fmt.Errorf("sntp %s: send: %w", server, err)
	}
	reply := make([]byte, 128)
	n, err := conn.Read(reply)
	t4 := now()
	if err != nil {
		return Result{}, fmt.Errorf("sntp %s: receive: %w", server, err)
	}
	res, err := parseReply(reply[:n], req[40:48], t1, t4)
	if err != nil {
		return Result{}, fmt.Errorf("sntp %s: %w", server, err)
	}
	return res, nil
}

func parseReply(b, origin []byte, t1, t4 time.Time) (Result, error) {
	if len(b) < 48 {
		return Result{}, fmt.Errorf("%w: %d bytes", ErrBadReply, len(b))
	}
	mode, version := b[0]&7, (b[0]>>3)&7
	if mode != 4 || version < 3 {
		return Result{}, fmt.Errorf("%w: mode %d version %d", ErrBadReply, mode, version)
	}
	if b[0]>>6 == 3 {
		return Result{}, fmt.Errorf("%w: server clock not synchronized", ErrBadReply)
	}
	stratum := b[1]
	if stratum == 0 {
		return Result{}, fmt.Errorf("%w: %q", ErrKissOfDeath, b[12:16])
	}
	if string(b[24:32]) != string(origin) {
		return Result{}, fmt.Errorf("%w: origin timestamp does not match our request", ErrBadReply)
	}
	t2, t3 := getTimestamp(b[32:40]), getTimestamp(b[40:48])
	if t3.IsZero() {
		return Result{}, fmt.Errorf("%w: zero transmit timestamp", ErrBadReply)
	}
	offset := (t2.Sub(t1) + t3.Sub(t4)) / 2
	delay := t4.Sub(t1) - t3.Sub(t2)
	return Result{Offset: offset, Delay: delay, Stratum: stratum}, nil
}

func putTimestamp(b []byte, t time.Time) {
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	binary.BigEndian.PutUint32(b[0:4], uint32(secs))
	binary.BigEndian.PutUint32(b[4:8], uint32(frac))
}

func getTimestamp(b []byte) time.Time {
	secs := binary.BigEndian.Uint32(b[0:4])
	frac := binary.BigEndian.Uint32(b[4:8])
	if secs == 0 && frac == 0 {
		return time.Time{}
	}
	// Era 1 starts in 2036: small values belong to it.
	s := int64(secs) - ntpEpochOffset
	if secs < 0x80000000 {
		s += 1 << 32
	}
	return time.Unix(s, int64(uint64(frac)*1e9>>32))
}
