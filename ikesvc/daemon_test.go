package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/kernel"
)

type nullTransport struct{}

func (nullTransport) Send([]byte, netip.AddrPort, netip.AddrPort) error { return nil }

// TestApplyOnlyDifference: a second configuration restarts only the peers
// it changed; an unchanged peer keeps its IKE SA.
func TestApplyOnlyDifference(t *testing.T) {
	p := newHostPKI(t)
	base := p.hostConfig(t, "a", netip.MustParseAddr("192.0.2.1"), "gw2", netip.MustParseAddr("192.0.2.2"), "start")
	mem, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs []string
	logf := func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	d := &daemon{logf: logf, verbosef: func(string, ...any) {}, kern: mem, transport: nullTransport{}, port: 500, nattPort: 4500,
		localAddr: func(netip.Addr) (netip.Addr, error) { return netip.MustParseAddr("192.0.2.1"), nil }}
	defer d.close()
	steps := []struct {
		name        string
		extra       string
		wantChanged string // in the log; "" means no "(re)configured" line
		wantSAs     int
	}{
		{"initial", "set ipsec peer gw3 address 192.0.2.3\nset ipsec peer gw3 start-action start\n", "gw2, gw3", 2},
		{"unchanged", "set ipsec peer gw3 address 192.0.2.3\nset ipsec peer gw3 start-action start\n", "", 2},
		{"gw3 changed", "set ipsec peer gw3 address 192.0.2.3\nset ipsec peer gw3 start-action start\nset ipsec peer gw3 mode transport\n", "gw3", 2},
		{"gw3 removed", "", "gw3", 1},
	}
	var gw2SPI string
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			cfg, err := settext.ParseString(base + s.extra)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			logs = nil
			mu.Unlock()
			if err := d.apply(cfg, s.name); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			got := strings.Join(logs, "\n")
			mu.Unlock()
			if s.wantChanged == "" && strings.Contains(got, "(re)configured") || s.wantChanged != "" && !strings.Contains(got, "(re)configured: "+s.wantChanged) {
				t.Errorf("log %q, want changed peers %q", got, s.wantChanged)
			}
			st := d.Status(context.Background())
			if len(st) != s.wantSAs {
				t.Fatalf("%d IKE SAs, want %d: %+v", len(st), s.wantSAs, st)
			}
			for _, sa := range st {
				if sa.Peer != "gw2" {
					continue
				}
				if gw2SPI != "" && sa.SPIi != gw2SPI {
					t.Errorf("gw2's IKE SA was replaced (%s -> %s) although gw2 did not change", gw2SPI, sa.SPIi)
				}
				gw2SPI = sa.SPIi
			}
		})
	}
}
