package ipsectest

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/qemu"
)

// The two boards' addresses on the virtual link.
var (
	moon4, sun4 = netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("10.77.1.2")
	moon6, sun6 = netip.MustParseAddr("fd77:1::1"), netip.MustParseAddr("fd77:1::2")
)

// phase is one IPsec setup between the boards: a peer entry on each side
// (moon initiates at start, sun responds) and the outer address family.
type phase struct {
	peer string // peer entry name on both boards
	mode string // transport or tunnel
	ipv6 bool
	// onTraffic leaves start-action unset on both boards: the default
	// (trap) must bring the SAs up on the first packet, not at commit.
	onTraffic bool
}

func (p phase) addrs() (moon, sun netip.Addr) {
	if p.ipv6 {
		return moon6, sun6
	}
	return moon4, sun4
}

// peerLines are the `set` lines of one side's peer entry. The initiator
// names the responder's exact identity; the responder admits any host of
// the CA by DN pattern, the deployed way (no per-peer certificates).
func (p phase) peerLines(local, remote netip.Addr, remoteID string, initiate bool) []string {
	pre := "set ipsec peer " + p.peer + " "
	lines := []string{pre + "address " + remote.String()}
	switch {
	case initiate && p.onTraffic:
		lines = append(lines, pre+fmt.Sprintf("remote-id %q", remoteID))
	case initiate:
		lines = append(lines, pre+fmt.Sprintf("remote-id %q", remoteID), pre+"start-action start")
	case p.onTraffic:
		lines = append(lines, pre+fmt.Sprintf("remote-id-pattern %q", interop.HostPattern))
	default:
		lines = append(lines, pre+fmt.Sprintf("remote-id-pattern %q", interop.HostPattern), pre+"start-action none")
	}
	lines = append(lines, pre+"mode "+p.mode)
	if p.mode == "tunnel" {
		lines = append(lines,
			pre+"local-ts "+netip.PrefixFrom(local, local.BitLen()).String(),
			pre+"remote-ts "+netip.PrefixFrom(remote, remote.BitLen()).String())
	}
	return lines
}

// TestTwoBoards boots two boards joined by a QEMU socket link on loopback
// (UDP, so neither has to start first), configures both only through the
// console CLI and, one after the other: ESP transport mode over IPv4 and
// IPv6, then tunnel mode over IPv4 and IPv6. In each phase both boards
// show the IKE SA ESTABLISHED with a CHILD_SA of that mode, and each pings
// the other. A filter-dump capture of the link on moon must hold ESP over
// both address families and nothing between the boards' addresses but
// ESP, IKE and neighbour discovery: no plaintext ICMP. A last phase sets
// no start-action on either board: nothing comes up at commit, and moon's
// first ping brings the SA up (the documented default, trap).
func TestTwoBoards(t *testing.T) {
	p := requireQEMU(t)
	t.Parallel()
	start := time.Now()
	ports := qemu.FreeUDPPorts(t, 2)
	pcap := filepath.Join(t.TempDir(), "link.pcap")
	netArgs := func(self, other int, mac string) []string {
		return []string{
			"-netdev", fmt.Sprintf("socket,id=l,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", other, self),
			"-device", "e1000,netdev=l,mac=" + mac,
		}
	}
	moon := qemu.StartBoard(t, imagePath, "moon", append(netArgs(ports[0], ports[1], "52:54:00:77:01:01"),
		"-object", "filter-dump,id=f1,netdev=l,file="+pcap)...)
	sun := qemu.StartBoard(t, imagePath, "sun", netArgs(ports[1], ports[0], "52:54:00:77:01:02")...)
	boards := []*qemu.Board{moon, sun}
	if err := qemu.Each(boards, (*qemu.Board).WaitBoot); err != nil {
		t.Fatal(err)
	}
	t.Logf("both boards booted in %v", time.Since(start).Round(time.Second))

	base := map[*qemu.Board][]string{
		moon: append(qemu.SetLines(p.Hosts[interop.HostMoon].ConfigSet),
			"delete interfaces eth0 address 10.99.0.1/24",
			"set interfaces eth0 address "+moon4.String()+"/24",
			"set interfaces eth0 address "+moon6.String()+"/64"),
		sun: append(qemu.SetLines(p.Hosts[interop.HostSun].ConfigSet),
			"delete interfaces eth0 address 10.99.0.1/24",
			"set interfaces eth0 address "+sun4.String()+"/24",
			"set interfaces eth0 address "+sun6.String()+"/64"),
	}
	configured := time.Now()
	if err := qemu.Each(boards, func(b *qemu.Board) error { return b.Configure("addresses-and-pki", base[b]) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("addresses and PKI typed and committed in %v", time.Since(configured).Round(time.Second))

	phases := []phase{
		{peer: "t4", mode: "transport"},
		{peer: "t6", mode: "transport", ipv6: true},
		{peer: "n4", mode: "tunnel"},
		{peer: "n6", mode: "tunnel", ipv6: true},
		{peer: "d4", mode: "transport", onTraffic: true},
	}
	prev := ""
	for _, ph := range phases {
		family := map[bool]string{false: "ipv4", true: "ipv6"}[ph.ipv6]
		name := ph.mode + "-" + family
		if ph.onTraffic {
			name += "-on-traffic"
		}
		ok := t.Run(name, func(t *testing.T) {
			phaseStart := time.Now()
			m, s := ph.addrs()
			lines := map[*qemu.Board][]string{
				moon: ph.peerLines(m, s, p.Hosts[interop.HostSun].ID, true),
				sun:  ph.peerLines(s, m, "", false),
			}
			if prev != "" {
				for _, b := range boards {
					lines[b] = append([]string{"delete ipsec peer " + prev}, lines[b]...)
				}
			}
			// The responder first, so moon's start-action finds it ready.
			for _, b := range []*qemu.Board{sun, moon} {
				if err := b.Configure(ph.peer, lines[b]); err != nil {
					t.Fatal(err)
				}
			}
			if ph.onTraffic {
				if err := startOnTraffic(moon, ph.peer, s); err != nil {
					t.Fatal(err)
				}
			}
			for _, b := range boards {
				out, err := b.WaitSA("ESTABLISHED IKE SA "+ph.peer+" with a "+ph.mode+" CHILD_SA", qemu.SATimeout, qemu.Established(ph.peer, ph.mode).MatchString)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: show ipsec sa:\n%s", b.Name, out)
			}
			established := time.Since(phaseStart)
			for _, dir := range []struct {
				from *qemu.Board
				to   netip.Addr
			}{{moon, s}, {sun, m}} {
				got, out, err := dir.from.Ping(dir.to.String(), 3)
				if err != nil {
					t.Fatal(err)
				}
				if got == 0 {
					t.Fatalf("%s: ping %s through the %s SA: no replies:\n%s", dir.from.Name, dir.to, ph.mode, out)
				}
				t.Logf("%s: ping %s: %d of 3 replies", dir.from.Name, dir.to, got)
			}
			// The kernel's counters of moon's CHILD_SA prove the pings
			// used it (and did not bypass IPsec).
			out, err := moon.Run("show ipsec sa")
			if err != nil {
				t.Fatal(err)
			}
			if err := childCarriedPackets(out, 6); err != nil {
				t.Fatalf("moon: %v:\n%s", err, out)
			}
			t.Logf("phase %s: SAs established %v after the commits, phase done in %v",
				ph.peer, established.Round(time.Second), time.Since(phaseStart).Round(time.Second))
		})
		if !ok {
			t.FailNow()
		}
		prev = ph.peer
	}

	moon.VM.Stop()
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts, err := ClassifyPcap(f, [2]netip.Addr{moon4, sun4}, [2]netip.Addr{moon6, sun6})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture of the link between the boards: %v", counts)
	if n := counts.Unprotected(); n > 0 {
		t.Errorf("%d unprotected packets between the boards (want only ESP, IKE, NDP): %v", n, counts)
	}
	// Two phases per family, each 2 x 3 echo requests and replies.
	for _, v := range []int{4, 6} {
		if n := counts[v][KindESP]; n < 24 {
			t.Errorf("IPv%d: %d ESP packets on the link, want at least 24 (4 pings x 3 x 2 per family)", v, n)
		}
		if counts[v][KindIKE] == 0 {
			t.Errorf("IPv%d: no IKE on the link", v)
		}
	}
	t.Logf("TestTwoBoards total %v", time.Since(start).Round(time.Second))
}

// startOnTraffic checks that peer (configured without start-action) has
// no IKE SA after the commit, then pings to through it from b: the trap
// policy's acquire must start the handshake. The packet that triggers it
// is dropped, so its answer is not awaited: the phase's pings after
// ESTABLISHED check the traffic.
func startOnTraffic(b *qemu.Board, peer string, to netip.Addr) error {
	// Long enough for a start-action start to have sent its IKE_SA_INIT.
	time.Sleep(5 * time.Second)
	out, err := b.Run("show ipsec sa")
	if err != nil {
		return err
	}
	if strings.Contains(out, peer+": IKE SA") {
		return fmt.Errorf("%s: peer %s has an IKE SA before any traffic (start-action default must be trap):\n%s", b.Name, peer, out)
	}
	// The CLI calls a ping without replies an error: expected here.
	b.Ping(to.String(), 1)
	return nil
}

// childCarriedPackets checks that the CHILD_SAs in a `show ipsec sa`
// output counted at least n packets in and n out.
func childCarriedPackets(show string, n int) error {
	var in, out int
	for _, l := range strings.Split(show, "\n") {
		f := strings.Fields(l)
		// "    in  SPI  B bytes, P packets"
		if len(f) == 6 && (f[0] == "in" || f[0] == "out") && f[5] == "packets" {
			var p int
			fmt.Sscan(f[4], &p)
			if f[0] == "in" {
				in += p
			} else {
				out += p
			}
		}
	}
	if in < n || out < n {
		return fmt.Errorf("CHILD_SA counted %d packets in, %d out; want at least %d each", in, out, n)
	}
	return nil
}
