package main

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/kernel"
)

// changeCounter is a Memory backend that remembers what each Apply changed.
type changeCounter struct {
	*kernel.Memory
	mu      sync.Mutex
	changes []kernel.Changes
}

func (c *changeCounter) Apply(ctx context.Context, s kernel.Set) (kernel.Changes, error) {
	ch, err := c.Memory.Apply(ctx, s)
	c.mu.Lock()
	c.changes = append(c.changes, ch)
	c.mu.Unlock()
	return ch, err
}

// TestUnrelatedCommitLeavesSAsAlone: a commit that changes only settings
// outside ipsec (host name, syslog, an interface description) reaches
// ikesvc like any other; it must change nothing in the kernel and keep
// the IKE SA.
func TestUnrelatedCommitLeavesSAsAlone(t *testing.T) {
	p := newHostPKI(t)
	base := p.hostConfig(t, "a", netip.MustParseAddr("192.0.2.1"), "gw2", netip.MustParseAddr("192.0.2.2"), "start")
	mem, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	kern := &changeCounter{Memory: mem}
	d := &daemon{logf: t.Logf, verbosef: func(string, ...any) {}, kern: kern, transport: nullTransport{}, port: 500, nattPort: 4500,
		localAddr: func(netip.Addr) (netip.Addr, error) { return netip.MustParseAddr("192.0.2.1"), nil }}
	defer d.close()
	apply := func(text string) {
		t.Helper()
		cfg, err := settext.ParseString(text)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.apply(cfg, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// gw2 negotiates (an IKE SA in the engine), gw3 waits for traffic
	// (trap policies in the kernel).
	base += "set ipsec peer gw3 address 192.0.2.3\nset ipsec peer gw3 start-action trap\n"
	apply(base)
	before := d.Status(context.Background())
	if len(before) != 1 {
		t.Fatalf("%d IKE SAs, want 1", len(before))
	}
	if ks, _ := mem.List(context.Background()); len(ks.Policies) == 0 {
		t.Fatal("no trap policies installed")
	}
	kern.mu.Lock()
	kern.changes = nil
	kern.mu.Unlock()
	apply(base + "set system hostname gw9\nset system syslog-host 10.99.0.254:514\nset system description \"lab board\"\n")
	kern.mu.Lock()
	for _, ch := range kern.changes {
		if ch != (kernel.Changes{}) {
			t.Errorf("the unrelated commit changed the kernel: %+v", ch)
		}
	}
	kern.mu.Unlock()
	after := d.Status(context.Background())
	if len(after) != 1 || after[0].SPIi != before[0].SPIi {
		t.Errorf("IKE SA %s replaced by %+v", before[0].SPIi, after)
	}
}
