package noloss

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"alixsec.dev/ikesvc/kernel"
)

// boardTable is what `show ipsec kernel` prints for one tunnel-mode
// CHILD_SA of moon: the formatter the board runs, with ikesvc's socket
// bypass policies beside the table entries.
func boardTable(t *testing.T, extra ...kernel.TableState) string {
	t.Helper()
	moon, sun := netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("10.77.1.2")
	host := func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, 32) }
	out := &kernel.Template{Src: moon, Dst: sun, Mode: kernel.ModeTunnel, Reqid: 7}
	back := &kernel.Template{Src: sun, Dst: moon, Mode: kernel.ModeTunnel, Reqid: 7}
	table := kernel.Table{
		States: append([]kernel.TableState{
			{SA: kernel.SA{Src: sun, Dst: moon, SPI: 0xc3c1305b, Reqid: 7, Mode: kernel.ModeTunnel}, Proto: 50},
			{SA: kernel.SA{Src: moon, Dst: sun, SPI: 0xc4b70d65, Reqid: 7, Mode: kernel.ModeTunnel}, Proto: 50},
		}, extra...),
		Policies: []kernel.TablePolicy{
			{Policy: kernel.Policy{Selector: kernel.Selector{Src: host(moon), Dst: host(sun)}, Dir: kernel.DirOut, Template: out}},
			{Policy: kernel.Policy{Selector: kernel.Selector{Src: host(sun), Dst: host(moon)}, Dir: kernel.DirIn, Template: back}},
			{Policy: kernel.Policy{Selector: kernel.Selector{Src: host(sun), Dst: host(moon)}, Dir: kernel.DirFwd, Template: back}},
			{Policy: kernel.Policy{Selector: kernel.Selector{Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("0.0.0.0/0")}, Dir: kernel.DirIn}, Socket: true},
		},
	}
	var b strings.Builder
	if _, err := table.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestXfrmCompare(t *testing.T) {
	got, err := ParseXfrm(boardTable(t))
	if err != nil {
		t.Fatal(err)
	}
	wantS, wantP := ExpectedXfrm("10.77.1.1", "10.77.1.2", "tunnel", "c3c1305b", "c4b70d65")
	if d := DiffXfrm(got, append(wantS, wantP...)); len(d) != 0 {
		t.Errorf("table differs: %q\n%s", d, boardTable(t))
	}
	// A leftover of the churn and a missing SA are both reported.
	leftover := kernel.TableState{SA: kernel.SA{Src: netip.MustParseAddr("10.77.1.1"), Dst: netip.MustParseAddr("10.200.3.4"), SPI: 0xc0000001, Reqid: 9, Mode: kernel.ModeTransport}, Proto: 50}
	extra, err := ParseXfrm(boardTable(t, leftover))
	if err != nil {
		t.Fatal(err)
	}
	wantS2, wantP2 := ExpectedXfrm("10.77.1.1", "10.77.1.2", "tunnel", "c3c1305b", "c0000099")
	d := DiffXfrm(extra, append(wantS2, wantP2...))
	want := []string{
		"left over in the kernel (x1): 10.77.1.1 -> 10.200.3.4 esp spi 0xc0000001 transport",
		"left over in the kernel (x1): 10.77.1.1 -> 10.77.1.2 esp spi 0xc4b70d65 tunnel",
		"missing from the kernel (x1): 10.77.1.1 -> 10.77.1.2 esp spi 0xc0000099 tunnel",
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("DiffXfrm =\n%q\nwant\n%q", d, want)
	}
	if _, err := ParseXfrm("src 1.2.3.4 dst 5.6.7.8\n\tgarbage\n"); err == nil {
		t.Error("ParseXfrm accepted an entry that is neither SA nor policy")
	}
}
