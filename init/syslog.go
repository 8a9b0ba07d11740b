package main

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// syslogForwarder sends log lines to a remote syslog receiver over UDP in
// the BSD format (RFC 3164) every receiver understands.
type syslogForwarder struct {
	conn     net.Conn
	hostname string
	now      func() time.Time
}

func newSyslogForwarder(hostport, hostname string) (*syslogForwarder, error) {
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), "514")
	}
	conn, err := net.Dial("udp", hostport)
	if err != nil {
		return nil, fmt.Errorf("syslog %s: %w", hostport, err)
	}
	return &syslogForwarder{conn: conn, hostname: hostname, now: time.Now}, nil
}

// facility local0, severity info.
const syslogPriority = 16*8 + 6

func (s *syslogForwarder) format(line string) string {
	return fmt.Sprintf("<%d>%s %s alixsec: %s", syslogPriority, s.now().UTC().Format(time.Stamp), s.hostname, line)
}

// send never blocks the logger for long: UDP, and errors are dropped (a
// log line about a failed log line would loop).
func (s *syslogForwarder) send(line string) {
	s.conn.SetWriteDeadline(s.now().Add(100 * time.Millisecond))
	s.conn.Write([]byte(s.format(line)))
}
