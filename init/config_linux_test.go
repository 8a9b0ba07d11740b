package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/server"
	"alixsec.dev/configsvc/store"
	"alixsec.dev/init/netconf"
)

// fakeNetwork records each network config applied and fails while
// failing says so.
type fakeNetwork struct {
	mu      sync.Mutex
	applied []netconf.Config
	failing func(netconf.Config) bool
	changed chan struct{}
}

func (n *fakeNetwork) Apply(c netconf.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.applied = append(n.applied, c)
	select {
	case n.changed <- struct{}{}:
	default:
	}
	if n.failing(c) {
		return errors.New("list addresses: results may be incomplete or inconsistent")
	}
	return nil
}

// addressesApplied lists the eth0 addresses of each Apply call, in order.
func (n *fakeNetwork) addressesApplied() [][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out [][]string
	for _, c := range n.applied {
		var addrs []string
		for _, ifc := range c.Interfaces {
			for _, a := range ifc.Addresses {
				addrs = append(addrs, a.String())
			}
		}
		out = append(out, addrs)
	}
	return out
}

// startConfigsvc serves a fresh store with the qemu default (eth0
// 10.99.0.1/24) on a socket and returns it and a committer.
func startConfigsvc(t *testing.T) (socket string, commit func(address string)) {
	t.Helper()
	dir := t.TempDir()
	def, err := model.Default("qemu")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Create(filepath.Join(dir, "config.db"), def, "", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(dir, "configsvc.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	go server.New(st, t.Logf).Serve(l)
	t.Cleanup(func() { l.Close(); st.Close() })
	return socket, func(address string) {
		t.Helper()
		ctx := context.Background()
		c, err := api.Dial(socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		se, err := c.OpenSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := se.Set(ctx, []string{"interfaces", "eth0", "address", address}); err != nil {
			t.Fatal(err)
		}
		if _, err := se.Commit(ctx, "add "+address); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFollowerRetriesAFailedNetworkApply: a network apply that fails (the
// CI saw netlink's interrupted dump) is tried again until it takes, and a
// commit that comes meanwhile wins over the retries.
func TestFollowerRetriesAFailedNetworkApply(t *testing.T) {
	tests := []struct {
		name    string
		failing func(calls int, c netconf.Config) bool
		commit  string // committed once the follower has failed twice; "" for none
		want    [][]string
	}{
		{
			name:    "fails twice, then takes",
			failing: func(calls int, _ netconf.Config) bool { return calls <= 2 },
			want:    [][]string{{"10.99.0.1/24"}, {"10.99.0.1/24"}, {"10.99.0.1/24"}},
		},
		{
			name:    "keeps failing until a new commit",
			failing: func(_ int, c netconf.Config) bool { return len(c.Interfaces[0].Addresses) == 1 },
			commit:  "10.99.0.5/24",
			want:    [][]string{{"10.99.0.1/24"}, {"10.99.0.1/24"}, {"10.99.0.1/24", "10.99.0.5/24"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			socket, commit := startConfigsvc(t)
			netw := &fakeNetwork{changed: make(chan struct{}, 1)}
			calls := 0
			netw.failing = func(c netconf.Config) bool { calls++; return tt.failing(calls, c) }
			logger := log.New(io.Discard, "", 0)
			f := &configFollower{logger: logger, socket: socket, net: netw, logs: newLogRing(100, time.Now), clock: newClockKeeper(logger),
				setHostname: func([]byte) error { return nil }, retryFirst: 20 * time.Millisecond, retryMax: 40 * time.Millisecond}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { f.run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			deadline := time.After(10 * time.Second)
			committed := false
			for {
				got := netw.addressesApplied()
				if tt.commit != "" && !committed && len(got) == 2 {
					commit(tt.commit)
					committed = true
				}
				if len(got) >= len(tt.want) {
					if !slices.EqualFunc(got[:len(tt.want)], tt.want, slices.Equal) {
						t.Fatalf("applied %v, want %v", got, tt.want)
					}
					break
				}
				select {
				case <-netw.changed:
				case <-time.After(50 * time.Millisecond):
				case <-deadline:
					t.Fatalf("applied only %v, want %v", got, tt.want)
				}
			}
			// Once a config took, nothing more is applied until a commit.
			time.Sleep(200 * time.Millisecond)
			if got := netw.addressesApplied(); len(got) != len(tt.want) {
				t.Errorf("applied %v after the config took, want only %v", got, tt.want)
			}
		})
	}
}
