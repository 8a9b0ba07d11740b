package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sysctl is one kernel setting under /proc/sys that init writes at boot.
type sysctl struct {
	path  string // relative to /proc/sys
	value string
	why   string // for the log line when it cannot be set
}

// bootSysctls are the kernel settings the firmware needs that differ from
// the kernel's defaults.
//
// Packetization-layer PMTU discovery (RFC 4821) for TCP: the board's own
// TCP runs through transport-mode ESP, and a router on a low-MTU path that
// filters ICMP ("fragmentation needed", "packet too big") would otherwise
// swallow every full-size segment (a PMTU black hole). Mode 2 starts each
// connection at tcp_base_mss and probes upwards, so no connection ever
// stalls on a black hole; mode 1 would only switch probing on after about
// three retransmission time-outs, per connection. 1024 bytes of MSS plus
// TCP/IP headers and ESP overhead stays below the 1280-byte IPv6 minimum
// MTU. The setting covers IPv4 and IPv6 TCP alike; with ICMP delivered the
// kernel's classic PMTU discovery (RFC 1191/8201) works as well, as ESP's
// error handler updates the path MTU of the SA's destination. The kernel
// has no netfilter, so MSS clamping is no option.
var bootSysctls = []sysctl{
	{"net/ipv4/tcp_mtu_probing", "2", "TCP path MTU probing (PMTU black holes)"},
	{"net/ipv4/tcp_base_mss", "1024", "TCP path MTU probing start size"},
}

// applySysctls writes settings under dir (/proc/sys; a test passes a
// temporary directory) and returns every failure, each naming the setting.
// A value already in place is not written again.
func applySysctls(dir string, settings []sysctl) error {
	var errs []error
	for _, s := range settings {
		p := filepath.Join(dir, s.path)
		cur, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s (%s): %w", s.path, s.why, err))
			continue
		}
		if strings.TrimSpace(string(cur)) == s.value {
			continue
		}
		if err := os.WriteFile(p, []byte(s.value+"\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s = %s (%s): %w", s.path, s.value, s.why, err))
		}
	}
	return errors.Join(errs...)
}
