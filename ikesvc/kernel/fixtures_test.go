package kernel

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

const testReqid = 0x0a150001

var (
	hostA = netip.MustParseAddr("192.0.2.1")
	hostB = netip.MustParseAddr("192.0.2.2")
	hostC = netip.MustParseAddr("192.0.2.3")
	host6 = netip.MustParseAddr("2001:db8::1")
	peer6 = netip.MustParseAddr("fd00::2") // zero last 12 bytes: the case netlink v1.3.1 misreads
)

func key(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

// cbcSA is an aes128-cbc/hmac-sha2-256-128 transport SA from src to dst.
func cbcSA(src, dst netip.Addr, spi uint32, reqid uint32, fill byte) SA {
	return SA{
		Src: src, Dst: dst, SPI: spi, Reqid: reqid, Mode: ModeTransport,
		Encryption: EncrAESCBC, EncryptionKey: key(16, fill),
		Integrity: IntegHMACSHA2_256128, IntegrityKey: key(32, fill+1),
		ReplayWindow: 32,
	}
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// transportPolicies are the out and in policies of a host-to-host transport
// CHILD_SA between local and remote.
func transportPolicies(local, remote netip.Addr, reqid uint32) []Policy {
	tmpl := &Template{Mode: ModeTransport, Reqid: reqid}
	return []Policy{
		{Selector: Selector{Src: hostPrefix(local), Dst: hostPrefix(remote)}, Dir: DirOut, Priority: 1000, Template: tmpl},
		{Selector: Selector{Src: hostPrefix(remote), Dst: hostPrefix(local)}, Dir: DirIn, Priority: 1000, Template: tmpl},
	}
}

// peerSet is everything for one transport peer: two SAs and two policies.
func peerSet(local, remote netip.Addr, spiOut, spiIn, reqid uint32, fill byte) Set {
	return Set{
		SAs:      []SA{cbcSA(local, remote, spiOut, reqid, fill), cbcSA(remote, local, spiIn, reqid, fill+2)},
		Policies: transportPolicies(local, remote, reqid),
	}
}

func merge(sets ...Set) Set {
	var out Set
	for _, s := range sets {
		out.SAs = append(out.SAs, s.SAs...)
		out.Policies = append(out.Policies, s.Policies...)
	}
	return out
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestMemory(t *testing.T) (*Memory, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m, err := NewMemory(DefaultOwnership(), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return m, clk
}

// assertSameSet checks that got holds exactly want (after normalization),
// in any order.
func assertSameSet(t *testing.T, got, want Set) {
	t.Helper()
	w, err := normalized(want, DefaultOwnership())
	if err != nil {
		t.Fatalf("normalize want: %v", err)
	}
	sortSAs(w.SAs)
	sortPolicies(w.Policies)
	sortSAs(got.SAs)
	sortPolicies(got.Policies)
	if len(got.SAs) != len(w.SAs) || len(got.Policies) != len(w.Policies) {
		t.Fatalf("got %d SAs %d policies, want %d SAs %d policies:\ngot  %v\nwant %v",
			len(got.SAs), len(got.Policies), len(w.SAs), len(w.Policies), got, w)
	}
	for i := range w.SAs {
		if diffSAFull(w.SAs[i], got.SAs[i]) != saSame {
			t.Errorf("SA %d: got %+v, want %+v", i, got.SAs[i], w.SAs[i])
		}
	}
	for i := range w.Policies {
		if w.Policies[i].ID() != got.Policies[i].ID() || !samePolicyContent(w.Policies[i], got.Policies[i]) {
			t.Errorf("policy %d: got %s, want %s", i, got.Policies[i], w.Policies[i])
		}
	}
}
