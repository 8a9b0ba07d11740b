package kernel

import (
	"context"
	"strings"
	"testing"
)

// Table lists what another program installed beside the owned entries:
// the point of it is to show leftovers.
func TestNetlinkTableListsForeignPolicies(t *testing.T) {
	ns, h := newTestNetns(t)
	n := newTestNetlink(t, ns)
	ctx := context.Background()
	v4, _, _ := testPolicySets()
	if _, err := n.Apply(ctx, v4); err != nil {
		t.Fatal(err)
	}
	foreign := libraryPolicy(Policy{Selector: Selector{Src: hostPrefix(hostA), Dst: hostPrefix(hostC)}, Dir: DirOut, Priority: 7})
	if err := h.XfrmPolicyAdd(foreign); err != nil {
		t.Fatal(err)
	}
	table, err := n.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(table.Policies), len(v4.Policies)+1; got != want {
		t.Fatalf("Table has %d policies, want %d: %+v", got, want, table.Policies)
	}
	var out strings.Builder
	if _, err := table.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"src " + hostPrefix(hostA).String() + " dst " + hostPrefix(hostC).String() + "\n\tdir out priority 7 action allow\n",
		"tmpl src 0.0.0.0 dst 0.0.0.0 proto esp reqid",
		"mode transport",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table text lacks %q:\n%s", want, text)
		}
	}
}
