package main

import (
	"net/netip"
	"testing"
	"time"

	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/kernel"
)

// TestCRLFetchFollowsConfig: `set ipsec crl-fetch on` starts the fetcher,
// a commit that keeps it on keeps the same fetcher, turning it off stops
// it, and close leaves none behind.
func TestCRLFetchFollowsConfig(t *testing.T) {
	p := newHostPKI(t)
	base := p.hostConfig(t, "a", netip.MustParseAddr("192.0.2.1"), "gw2", netip.MustParseAddr("192.0.2.2"), "none")
	mem, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{logf: t.Logf, verbosef: func(string, ...any) {}, kern: mem, transport: nullTransport{}, port: 500, nattPort: 4500}
	defer d.close()
	var first any
	steps := []struct {
		name  string
		extra string
		want  bool
	}{
		{"on", "set ipsec crl-fetch on\n", true},
		{"still on", "set ipsec crl-fetch on\n", true},
		{"off", "", false},
		{"on again", "set ipsec crl-fetch on\n", true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			cfg, err := settext.ParseString(base + s.extra)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.apply(cfg, s.name); err != nil {
				t.Fatal(err)
			}
			d.fetchMu.Lock()
			f := d.fetcher
			d.fetchMu.Unlock()
			if (f != nil) != s.want {
				t.Fatalf("fetcher running = %v, want %v", f != nil, s.want)
			}
			if s.name == "on" {
				first = f
			}
			if s.name == "still on" && any(f) != first {
				t.Error("an unchanged crl-fetch setting replaced the fetcher")
			}
		})
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	if d.fetcher != nil {
		t.Error("close left the fetcher running")
	}
}
