package kernel

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMemoryReconcile(t *testing.T) {
	peerB := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	peerC := peerSet(hostA, hostC, 0xc0000201, 0xc0000202, testReqid+1, 5)
	rekeyedB := peerSet(hostA, hostB, 0xc0000111, 0xc0000112, testReqid, 1)
	newKeyB := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 9)
	longerB := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	longerB.SAs[0].Lifetime = Lifetime{SoftTime: 50 * time.Minute, HardTime: time.Hour}
	prioB := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	prioB.Policies[0].Priority = 500
	natB := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	natB.SAs[0].Encap = &UDPEncap{SrcPort: 4500, DstPort: 4500}
	natB2 := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	natB2.SAs[0].Encap = &UDPEncap{SrcPort: 4500, DstPort: 31337} // NAT rebinding
	// Entries another program owns: reqid outside the range, and a bare
	// policy with priority 0 (iproute2's default).
	foreign := Set{
		SAs: []SA{cbcSA(hostA, hostB, 0x1000, 7, 3)},
		Policies: []Policy{{Selector: Selector{Src: hostPrefix(hostA), Dst: hostPrefix(hostC), Proto: 17, DstPort: 500},
			Dir: DirOut, Priority: 0}},
	}

	type step struct {
		desired Set
		want    Changes
	}
	tests := []struct {
		name    string
		preload Set // left behind by "a previous run" or another program
		steps   []step
	}{
		{name: "empty to set", steps: []step{
			{merge(peerB, peerC), Changes{SAsAdded: 4, PoliciesAdded: 4}},
		}},
		{name: "same set twice is a no-op", steps: []step{
			{peerB, Changes{SAsAdded: 2, PoliciesAdded: 2}},
			{peerB, Changes{}},
			{peerB, Changes{}},
		}},
		{name: "new key same SPI replaces", steps: []step{
			{peerB, Changes{SAsAdded: 2, PoliciesAdded: 2}},
			{newKeyB, Changes{SAsReplaced: 2}},
		}},
		{name: "new SPIs add and delete", steps: []step{
			{peerB, Changes{SAsAdded: 2, PoliciesAdded: 2}},
			{rekeyedB, Changes{SAsAdded: 2, SAsDeleted: 2}},
		}},
		{name: "lifetime change updates in place", steps: []step{
			{peerB, Changes{SAsAdded: 2, PoliciesAdded: 2}},
			{longerB, Changes{SAsUpdated: 1}},
		}},
		{name: "NAT-T port change updates, adding encap replaces", steps: []step{
			{peerB, Changes{SAsAdded: 2, PoliciesAdded: 2}},
			{natB, Changes{SAsReplaced: 1}},
			{natB2, Changes{SAsUpdated: 1}},
		}},
		{name: "policy priority change updates", steps: []step{
			{peerB, Changes{SAsAdded: 2, PoliciesAdded: 2}},
			{prioB, Changes{PoliciesUpdated: 1}},
		}},
		{name: "remove peer", steps: []step{
			{merge(peerB, peerC), Changes{SAsAdded: 4, PoliciesAdded: 4}},
			{peerB, Changes{SAsDeleted: 2, PoliciesDeleted: 2}},
			{Set{}, Changes{SAsDeleted: 2, PoliciesDeleted: 2}},
		}},
		{name: "stale entries from a previous run removed, foreign kept",
			preload: merge(peerC, foreign),
			steps: []step{
				{peerB, Changes{SAsAdded: 2, PoliciesAdded: 2, SAsDeleted: 2, PoliciesDeleted: 2}},
				{peerB, Changes{}},
			}},
		{name: "restart with the same entries left behind is a no-op",
			preload: peerB,
			steps:   []step{{peerB, Changes{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestMemory(t)
			m.Preload(tt.preload)
			for i, st := range tt.steps {
				got, err := m.Apply(context.Background(), st.desired)
				if err != nil {
					t.Fatalf("step %d: Apply: %v", i, err)
				}
				if got != st.want {
					t.Errorf("step %d: changes %v, want %v", i, got, st.want)
				}
				list, err := m.List(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				assertSameSet(t, list, st.desired)
			}
			// Unowned entries survive every Apply.
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, sa := range tt.preload.SAs {
				if _, ok := m.sas[sa.ID()]; !DefaultOwnership().ownsSA(sa) && !ok {
					t.Errorf("foreign %s was removed", sa)
				}
			}
			for _, p := range tt.preload.Policies {
				if _, ok := m.policies[p.ID()]; !DefaultOwnership().ownsPolicy(p) && !ok {
					t.Errorf("foreign %s was removed", p)
				}
			}
		})
	}
}

func TestMemoryApplyErrors(t *testing.T) {
	good := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	badKey := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	badKey.SAs[0].EncryptionKey = key(17, 1)
	outside := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, 42, 1)
	dup := merge(good, Set{SAs: good.SAs[:1]})
	tests := []struct {
		name    string
		desired Set
		want    string
	}{
		{"bad key length", badKey, "aes-cbc key is 17 bytes"},
		{"reqid outside the owned range", outside, "outside the owned range"},
		{"duplicate SA", dup, "duplicate SA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestMemory(t)
			_, err := m.Apply(context.Background(), tt.desired)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply error %v, want it to mention %q", err, tt.want)
			}
			list, _ := m.List(context.Background())
			if len(list.SAs)+len(list.Policies) != 0 {
				t.Errorf("an invalid set installed %v", list)
			}
		})
	}
}

func TestMemoryForeignConflict(t *testing.T) {
	m, _ := newTestMemory(t)
	foreign := cbcSA(hostA, hostB, 0xc0000101, 7, 3) // same ID as ours, reqid not ours
	m.Preload(Set{SAs: []SA{foreign}})
	changes, err := m.Apply(context.Background(), peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1))
	var op *OpError
	if !errors.As(err, &op) || !errors.Is(err, syscall.EEXIST) || op.Op != "add" || !strings.HasPrefix(op.Entry, "SA ") {
		t.Fatalf("Apply error %v, want an add SA OpError wrapping EEXIST", err)
	}
	if !strings.Contains(err.Error(), "spi 0xc0000101") || !strings.Contains(err.Error(), "does not own") {
		t.Errorf("error %q does not name the SA and the cause", err)
	}
	// Everything else was still applied.
	if changes != (Changes{SAsAdded: 1, PoliciesAdded: 2}) {
		t.Errorf("changes %v", changes)
	}
}

func TestMemoryAllocSPIFill(t *testing.T) {
	m, clk := newTestMemory(t)
	ctx := context.Background()
	spi, err := m.AllocSPI(ctx, hostB, hostA, testReqid)
	if err != nil {
		t.Fatal(err)
	}
	spi2, err := m.AllocSPI(ctx, hostB, hostA, testReqid)
	if err != nil || spi2 == spi {
		t.Fatalf("second SPI %x (err %v) repeats %x", spi2, err, spi)
	}
	// An unrelated Apply must not delete the reservations.
	if _, err := m.Apply(ctx, Set{}); err != nil {
		t.Fatal(err)
	}
	in := cbcSA(hostB, hostA, spi, testReqid, 1)
	changes, err := m.Apply(ctx, Set{SAs: []SA{in}})
	if err != nil || changes != (Changes{SAsAdded: 1}) {
		t.Fatalf("fill reservation: changes %v err %v", changes, err)
	}
	// The unused reservation expires like the kernel's larval state.
	clk.t = clk.t.Add(larvalLifetime)
	spi3, err := m.AllocSPI(ctx, hostB, hostA, testReqid)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	_, stillReserved := m.larval[SAID{Dst: hostA, SPI: spi2}]
	m.mu.Unlock()
	if stillReserved || spi3 == spi2 || spi3 == spi {
		t.Errorf("reservation %x not expired (new SPI %x)", spi2, spi3)
	}
}

func TestMemoryCountersAndDelete(t *testing.T) {
	m, clk := newTestMemory(t)
	ctx := context.Background()
	set := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	if _, err := m.Apply(ctx, set); err != nil {
		t.Fatal(err)
	}
	id := set.SAs[0].ID()
	clk.t = clk.t.Add(time.Minute)
	if err := m.AddTraffic(id, 1500, 3); err != nil {
		t.Fatal(err)
	}
	c, err := m.Counters(ctx, id)
	if err != nil || c.Bytes != 1500 || c.Packets != 3 || !c.LastUsed.Equal(clk.t) {
		t.Fatalf("counters %+v err %v", c, err)
	}
	if err := m.DeleteSA(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteSA(ctx, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := m.Counters(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("counters after delete: %v, want ErrNotFound", err)
	}
	// The next Apply of the unchanged desired set puts it back.
	if ch, err := m.Apply(ctx, set); err != nil || ch != (Changes{SAsAdded: 1}) {
		t.Fatalf("reapply: %v %v", ch, err)
	}
}

func TestMemoryEvents(t *testing.T) {
	m, _ := newTestMemory(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set := peerSet(hostA, hostB, 0xc0000101, 0xc0000102, testReqid, 1)
	if _, err := m.Apply(ctx, set); err != nil {
		t.Fatal(err)
	}
	events, err := m.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m.InjectAcquire(Acquire{Reqid: 99}) // not ours: dropped
	m.InjectAcquire(Acquire{Reqid: testReqid, Src: hostA, Dst: hostC})
	if err := m.InjectExpire(set.SAs[0].ID(), false); err != nil {
		t.Fatal(err)
	}
	if err := m.InjectExpire(set.SAs[1].ID(), true); err != nil {
		t.Fatal(err)
	}
	want := []EventKind{EventAcquire, EventSoftExpire, EventHardExpire}
	for i, k := range want {
		select {
		case ev := <-events:
			if ev.Kind != k {
				t.Fatalf("event %d: %s, want %s", i, ev.Kind, k)
			}
			if k == EventAcquire && ev.Acquire.Dst != hostC {
				t.Errorf("acquire %+v", ev.Acquire)
			}
			if k == EventHardExpire && ev.Expire.SA != set.SAs[1].ID() {
				t.Errorf("hard expire %+v", ev.Expire)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d (%s) not delivered", i, k)
		}
	}
	if _, err := m.Counters(ctx, set.SAs[1].ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("hard-expired SA still installed: %v", err)
	}
	cancel()
	for range events { // drains and ends: the channel must be closed
	}
}
