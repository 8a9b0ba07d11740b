package ipsectest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/qemu"
)

// The low-MTU path: moon on link A, sun on link B, a router namespace
// between them whose side towards sun has an MTU of 1280 (the IPv6
// minimum), so that full-size packets from moon do not fit.
var (
	mtuRouterA4, mtuMoon4 = netip.MustParseAddr("10.77.5.1"), netip.MustParseAddr("10.77.5.2")
	mtuRouterB4, mtuSun4  = netip.MustParseAddr("10.77.6.1"), netip.MustParseAddr("10.77.6.2")
	mtuRouterA6, mtuMoon6 = netip.MustParseAddr("fd77:5::1"), netip.MustParseAddr("fd77:5::2")
	mtuRouterB6, mtuSun6  = netip.MustParseAddr("fd77:6::1"), netip.MustParseAddr("fd77:6::2")
)

const (
	narrowMTU = 1280
	// smallIPv4MTU is the router's IPv4 MTU towards sun while the IKE SAs
	// are set up: a small IPv4 path, which RFC 7383 fragments must fit.
	smallIPv4MTU  = 576
	transferBytes = 10 << 20
	transferPort  = 5001
	// transferTimeout bounds one 10 MB transfer under TCG, PMTU black
	// hole included.
	transferTimeout = 4 * time.Minute
)

// mtuTapScript is QEMU's -netdev tap script for a router link: it moves
// the tap into the router's namespace and gives it its MTU and addresses
// there (IPv6 without duplicate address detection, so it is usable at
// once).
const mtuTapScript = `#!/bin/sh
set -e
ip link set "$1" netns %[1]s
ip -n %[1]s link set "$1" mtu %[2]d
ip -n %[1]s addr add %[3]s dev "$1"
ip -n %[1]s addr add %[4]s dev "$1" nodad
ip -n %[1]s link set "$1" up
`

// mtuRuleset is the router's nftables table. It drops IP fragments (IKE
// must not rely on IP fragmentation, and nothing else should either) and
// counts what the test asserts and reports: RFC 7383 fragments (SKF
// payloads, next payload 53 at byte 16 of the IKE header) per address
// family, IKE datagrams larger than the narrow link, plaintext TCP (there
// must be none: the transfer runs inside ESP), ESP packets towards sun by
// size, and, from moon's side, packets too big for the narrow link and
// those of them without DF (the router would fragment them). That count
// is in prerouting: forwarding refuses a packet over the MTU before the
// forward hook. The out chain gets the ICMP rules of each phase
// (setICMP).
const mtuRuleset = `table inet mtu {
	counter ip_frag {}
	counter ike_frag4 {}
	counter ike_frag6 {}
	counter ike_big {}
	counter ike_big4 {}
	counter plain_tcp {}
	counter over_mtu {}
	counter over_mtu_nodf {}
	counter esp_full {}
	counter esp_small {}
	counter icmp_sent {}
	counter icmp_dropped {}
	chain fw {
		type filter hook forward priority 0; policy accept;
		ip frag-off & 0x3fff != 0 counter name ip_frag drop
		exthdr frag exists counter name ip_frag drop
		meta nfproto ipv4 udp dport 500 @th,192,8 53 counter name ike_frag4
		meta nfproto ipv6 udp dport 500 @th,192,8 53 counter name ike_frag6
		udp dport { 500, 4500 } meta length > %[2]d counter name ike_big
		meta nfproto ipv4 udp dport { 500, 4500 } meta length > %[3]d counter name ike_big4
		meta l4proto tcp counter name plain_tcp
		oifname "%[1]s" meta l4proto esp meta length 1201-%[2]d counter name esp_full
		oifname "%[1]s" meta l4proto esp meta length < 1201 counter name esp_small
	}
	chain pre {
		type filter hook prerouting priority 0; policy accept;
		iifname "%[4]s" meta length > %[2]d counter name over_mtu
		iifname "%[4]s" meta nfproto ipv4 meta length > %[2]d ip frag-off & 0x4000 == 0 counter name over_mtu_nodf
	}
	chain out {
		type filter hook output priority 0; policy accept;
	}
}
`

// mtuRouter is the router namespace between the boards.
type mtuRouter struct {
	ns, tapA, tapB string
	scriptA        string
	scriptB        string
}

// newMTURouter makes the router namespace (forwarding on, the nftables
// table loaded) and the tap scripts of its two links; the namespace is
// removed when t ends, after the boards (cleanups run last-in first-out).
func newMTURouter(t *testing.T) *mtuRouter {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("no nft (Debian package nftables; scripts/interop/deps.sh installs it): %v", err)
	}
	pid := os.Getpid()
	r := &mtuRouter{
		// interop.CleanLeftovers removes aix<PID>x... namespaces of dead PIDs.
		ns:   fmt.Sprintf("aix%dxmtu", pid),
		tapA: fmt.Sprintf("aixm%da", pid%100000),
		tapB: fmt.Sprintf("aixm%db", pid%100000),
	}
	if out, err := exec.Command("ip", "netns", "add", r.ns).CombinedOutput(); err != nil {
		t.Fatalf("router namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", r.ns).CombinedOutput(); err != nil {
			t.Errorf("remove router namespace: %v: %s", err, out)
		}
	})
	dir := t.TempDir()
	r.run(t, "ip", "link", "set", "lo", "up")
	r.run(t, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
	rules := filepath.Join(dir, "router.nft")
	if err := os.WriteFile(rules, []byte(fmt.Sprintf(mtuRuleset, r.tapB, narrowMTU, smallIPv4MTU, r.tapA)), 0o600); err != nil {
		t.Fatal(err)
	}
	r.run(t, "nft", "-f", rules)
	for _, l := range []struct {
		script *string
		name   string
		mtu    int
		a4, a6 netip.Addr
	}{{&r.scriptA, "tap-a.sh", 1500, mtuRouterA4, mtuRouterA6}, {&r.scriptB, "tap-b.sh", narrowMTU, mtuRouterB4, mtuRouterB6}} {
		*l.script = filepath.Join(dir, l.name)
		text := fmt.Sprintf(mtuTapScript, r.ns, l.mtu, l.a4.String()+"/24", l.a6.String()+"/64")
		if err := os.WriteFile(*l.script, []byte(text), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// run runs a command in the router namespace.
func (r *mtuRouter) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", r.ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("router: %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// setICMP makes the router send ICMP "fragmentation needed" / "packet too
// big" (counted) or drop them (a PMTU black hole, counted too).
func (r *mtuRouter) setICMP(t *testing.T, drop bool) {
	t.Helper()
	action := []string{"counter", "name", "icmp_sent"}
	if drop {
		action = []string{"counter", "name", "icmp_dropped", "drop"}
	}
	r.run(t, "nft", "flush", "chain", "inet", "mtu", "out")
	for _, match := range [][]string{
		{"icmp", "type", "destination-unreachable", "icmp", "code", "frag-needed"},
		{"icmpv6", "type", "packet-too-big"},
	} {
		r.run(t, append(append([]string{"nft", "add", "rule", "inet", "mtu", "out"}, match...), action...)...)
	}
}

// setIPv4MTU gives the router's route to sun's IPv4 subnet an MTU of its
// own (forwarding honours a route's MTU), or none (0: the link's 1280).
func (r *mtuRouter) setIPv4MTU(t *testing.T, mtu int) {
	t.Helper()
	args := []string{"ip", "route", "replace", netip.PrefixFrom(mtuSun4, 24).Masked().String(), "dev", r.tapB,
		"proto", "kernel", "scope", "link", "src", mtuRouterB4.String()}
	if mtu > 0 {
		args = append(args, "mtu", strconv.Itoa(mtu))
	}
	r.run(t, args...)
}

var nftPackets = regexp.MustCompile(`packets (\d+) bytes (\d+)`)

// counters reads every named counter's packet count.
func (r *mtuRouter) counters(t *testing.T) map[string]int {
	t.Helper()
	out := r.run(t, "nft", "list", "counters", "table", "inet", "mtu")
	got := map[string]int{}
	for _, block := range strings.Split(out, "counter ")[1:] {
		name, _, _ := strings.Cut(block, " ")
		if m := nftPackets.FindStringSubmatch(block); m != nil {
			got[name], _ = strconv.Atoi(m[1])
		}
	}
	if len(got) == 0 {
		t.Fatalf("router: no counters in:\n%s", out)
	}
	return got
}

func diffCounters(after, before map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// TestLowMTUPath boots two boards on either side of a router namespace
// whose link towards sun has an MTU of 1280, and, in that one boot of
// each:
//   - IKE with RSA-3072 certificates (root, intermediate and hosts) over
//     IPv4 and IPv6 at once, transport mode: the IKE_AUTH messages are
//     larger than the path and must cross it as RFC 7383 fragments, while
//     the router drops every IP fragment (and, for this part, has an IPv4
//     MTU of only 576 bytes towards sun);
//   - per address family, a 10 MB TCP transfer from moon to sun over the
//     SA, first with the router's ICMP "fragmentation needed" / "packet
//     too big" dropped (a PMTU black hole, before any path MTU was learnt),
//     then with them delivered. Each must arrive complete, all of it in
//     ESP (no plaintext TCP through the router), with IPv4 packets too big
//     for the hop always carrying DF (nothing relies on the router
//     fragmenting).
//
// The figures (seconds per transfer, ICMP sent or dropped, full-size ESP
// packets on the narrow link, TCP's PLPMTUD counters) go to the test log.
func TestLowMTUPath(t *testing.T) {
	requireQEMU(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := interop.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// RSA-3072 keys are made on the host: on the board (or under TCG)
	// each would take minutes.
	p, err := interop.NewKeyPKI(ctx, root, filepath.Join(t.TempDir(), "pki"), "rsa3072", interop.HostMoon, interop.HostSun)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RSA-3072 PKI issued in %v", time.Since(start).Round(time.Second))
	r := newMTURouter(t)
	tap := func(ifname, script, mac string) []string {
		return []string{"-netdev", fmt.Sprintf("tap,id=l,ifname=%s,script=%s,downscript=no", ifname, script),
			"-device", "e1000,netdev=l,mac=" + mac}
	}
	moon := qemu.StartBoard(t, imagePath, "moon-mtu", tap(r.tapA, r.scriptA, "52:54:00:77:05:02")...)
	sun := qemu.StartBoard(t, imagePath, "sun-mtu", tap(r.tapB, r.scriptB, "52:54:00:77:06:02")...)
	boards := []*qemu.Board{moon, sun}
	if err := qemu.Each(boards, (*qemu.Board).WaitBoot); err != nil {
		t.Fatal(err)
	}
	booted := time.Now()
	t.Logf("both boards booted in %v", booted.Sub(start).Round(time.Second))

	moonID := p.Hosts[interop.HostMoon].ID
	sunID := p.Hosts[interop.HostSun].ID
	v4, v6 := phase{peer: "m4", mode: "transport"}, phase{peer: "m6", mode: "transport", ipv6: true}
	lines := map[*qemu.Board][]string{
		moon: append(qemu.SetLines(p.Hosts[interop.HostMoon].ConfigSet),
			"delete interfaces eth0 address 10.99.0.1/24",
			"set interfaces eth0 address "+mtuMoon4.String()+"/24",
			"set interfaces eth0 address "+mtuMoon6.String()+"/64",
			"set routes 10.77.6.0/24 next-hop "+mtuRouterA4.String(),
			"set routes fd77:6::/64 next-hop "+mtuRouterA6.String()),
		sun: append(qemu.SetLines(p.Hosts[interop.HostSun].ConfigSet),
			"delete interfaces eth0 address 10.99.0.1/24",
			"set interfaces eth0 address "+mtuSun4.String()+"/24",
			"set interfaces eth0 address "+mtuSun6.String()+"/64",
			"set routes 10.77.5.0/24 next-hop "+mtuRouterB4.String(),
			"set routes fd77:5::/64 next-hop "+mtuRouterB6.String()),
	}
	// The PEM text takes the longest to type: both boards at once.
	if err := qemu.Each(boards, func(b *qemu.Board) error { return b.Configure("pki-and-addresses", lines[b]) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("RSA-3072 PKI, addresses and routes committed in %v", time.Since(booted).Round(time.Second))
	peers := map[*qemu.Board][]string{
		moon: append(v4.peerLines(mtuMoon4, mtuSun4, sunID, true), v6.peerLines(mtuMoon6, mtuSun6, sunID, true)...),
		sun:  append(v4.peerLines(mtuSun4, mtuMoon4, moonID, false), v6.peerLines(mtuSun6, mtuMoon6, moonID, false)...),
	}
	// IKE over IPv4 crosses a path of only 576 bytes; the router's ICMP
	// is delivered (a sender relying on IP fragmentation would then
	// fragment, and the router drops fragments).
	r.setICMP(t, false)
	r.setIPv4MTU(t, smallIPv4MTU)
	// Sun (the responder) first, so that moon's start-action finds it.
	for _, b := range []*qemu.Board{sun, moon} {
		if err := b.Configure("mtu-peers", peers[b]); err != nil {
			t.Fatal(err)
		}
	}
	configured := time.Now()
	both := func(out string) bool {
		return qemu.Established("m4", "transport").MatchString(out) && qemu.Established("m6", "transport").MatchString(out)
	}
	for _, b := range boards {
		out, err := b.WaitSA("ESTABLISHED IKE SAs m4 and m6 with transport CHILD_SAs", qemu.SATimeout, both)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: show ipsec sa:\n%s", b.Name, out)
	}
	t.Logf("both RSA-3072 IKE SAs established %v after the commit", time.Since(configured).Round(time.Second))
	ike := r.counters(t)
	t.Logf("router after IKE: %d IKE fragments over IPv4, %d over IPv6, %d IKE datagrams over %d bytes (%d IPv4 over %d), %d IP fragments dropped, %d ICMP sent",
		ike["ike_frag4"], ike["ike_frag6"], ike["ike_big"], narrowMTU, ike["ike_big4"], smallIPv4MTU, ike["ip_frag"], ike["icmp_sent"])
	r.setIPv4MTU(t, 0)
	if ike["ike_frag4"] < 2 || ike["ike_frag6"] < 2 {
		t.Errorf("IKE_AUTH with RSA-3072 chains crossed the router in %d (IPv4) and %d (IPv6) RFC 7383 fragments, want at least 2 each", ike["ike_frag4"], ike["ike_frag6"])
	}
	if ike["ike_big"] > 0 || ike["ike_big4"] > 0 {
		t.Errorf("IKE datagrams larger than the path crossed the router: %d over %d bytes, %d IPv4 over %d", ike["ike_big"], narrowMTU, ike["ike_big4"], smallIPv4MTU)
	}
	if ike["ip_frag"] > 0 {
		t.Errorf("%d IP fragments reached the router while the IKE SAs were set up", ike["ip_frag"])
	}

	for _, b := range boards {
		if _, err := b.Run("start shell"); err != nil {
			t.Fatal(err)
		}
		out, err := b.VM.Command("cat /proc/sys/net/ipv4/tcp_mtu_probing /proc/sys/net/ipv4/tcp_base_mss", qemu.CommandTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(out); len(f) != 2 || f[0] != "2" || f[1] != "1024" {
			t.Fatalf("%s: tcp_mtu_probing and tcp_base_mss are %q, want 2 and 1024 (set by init)", b.Name, out)
		}
	}
	type result struct {
		name    string
		took    time.Duration
		counted map[string]int
	}
	var results []result
	for _, tr := range []struct {
		family   int
		dst      netip.Addr
		dropICMP bool
	}{
		// The black hole first: nothing has learnt the path MTU yet.
		{4, mtuSun4, true}, {4, mtuSun4, false},
		{6, mtuSun6, true}, {6, mtuSun6, false},
	} {
		name := fmt.Sprintf("IPv%d, ICMP %s", tr.family, map[bool]string{false: "delivered", true: "dropped"}[tr.dropICMP])
		r.setICMP(t, tr.dropICMP)
		before := r.counters(t)
		took, err := transfer(moon, sun, tr.family, tr.dst)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := diffCounters(r.counters(t), before)
		results = append(results, result{name, took, d})
		t.Logf("%s: 10 MB in %.1f s (%.0f KB/s); router: %d packets too big for the hop (%d without DF), ICMP %d sent, %d dropped; ESP towards sun: %d packets of 1201-%d bytes, %d smaller",
			name, took.Seconds(), float64(transferBytes)/1024/took.Seconds(), d["over_mtu"], d["over_mtu_nodf"],
			d["icmp_sent"], d["icmp_dropped"], d["esp_full"], narrowMTU, d["esp_small"])
		switch {
		case d["plain_tcp"] > 0:
			t.Errorf("%s: %d plaintext TCP packets crossed the router: the transfer bypassed ESP", name, d["plain_tcp"])
		case d["esp_full"]+d["esp_small"] < transferBytes/narrowMTU:
			t.Errorf("%s: only %d ESP packets towards sun for 10 MB", name, d["esp_full"]+d["esp_small"])
		case d["over_mtu_nodf"] > 0:
			t.Errorf("%s: %d IPv4 packets too big for the hop without DF: the router fragmented them", name, d["over_mtu_nodf"])
		case d["ip_frag"] > 0:
			t.Errorf("%s: %d IP fragments reached the router", name, d["ip_frag"])
		case tr.dropICMP && d["icmp_sent"] > 0, !tr.dropICMP && d["icmp_dropped"] > 0:
			t.Errorf("%s: the router's ICMP rules did not apply: %v", name, d)
		}
	}
	stats, err := moon.VM.Command("cat /proc/net/netstat", qemu.CommandTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moon: TCP path MTU probing: %s", plpmtudCounters(stats))
	for _, b := range boards {
		if _, err := b.Run("exit"); err != nil { // back from the shell to the CLI
			t.Fatal(err)
		}
	}
	show, err := moon.Run("show ipsec sa")
	if err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"m4", "m6"} {
		if out := childBytesOut(show, peer); out < 2*transferBytes {
			t.Errorf("moon: the CHILD_SA of %s sent %d bytes, want at least 2 x 10 MB (the transfers):\n%s", peer, out, show)
		}
	}
	t.Logf("moon: show ipsec sa after the transfers:\n%s", show)
	var summary strings.Builder
	for _, res := range results {
		fmt.Fprintf(&summary, "\n  %-24s %6.1f s  ICMP sent %d, dropped %d; ESP packets of 1201-%d bytes %d",
			res.name, res.took.Seconds(), res.counted["icmp_sent"], res.counted["icmp_dropped"], narrowMTU, res.counted["esp_full"])
	}
	t.Logf("10 MB transfers over ESP across a %d-byte hop:%s", narrowMTU, summary.String())
	t.Logf("TestLowMTUPath total %v", time.Since(start).Round(time.Second))
}

// wcCount matches the receiver's byte count (wc -c) and the shell prompt
// after it.
var wcCount = regexp.MustCompile(`(?s)(\d+)[^\n]*\r?\n\$ $`)

// transfer sends 10 MB of random bytes from a shell on one board to a receiver in
// a shell on the other over TCP to dst and returns the time from starting
// the sender to the receiver's count of exactly 10 MB.
func transfer(from, to *qemu.Board, family int, dst netip.Addr) (time.Duration, error) {
	// u-root's netcat (v0.16.0) has its quirks. The sender is no
	// --send-only: that mode closes the connection before it sent
	// anything.
	// Its listener copies stdin to the connection whatever the options
	// say and waits for that to end: stdin is /dev/null, not the console.
	if err := to.VM.Type(fmt.Sprintf("netcat -%d -l %d </dev/null | wc -c", family, transferPort)); err != nil {
		return 0, err
	}
	// The receiver needs a moment to listen (a busybox start under TCG).
	time.Sleep(3 * time.Second)
	// Random bytes, not zeros: u-root's wc reads line by line, and 10 MB
	// without a newline is one 10 MB line in the 64 MB board's RAM.
	send := fmt.Sprintf("head -c %d /dev/urandom | netcat -%d %s %d", transferBytes, family, dst, transferPort)
	start := time.Now()
	out, err := from.VM.Command(send, transferTimeout)
	if err != nil {
		return 0, fmt.Errorf("%s: sender: %w", from.Name, err)
	}
	if strings.Contains(out, "error") || strings.Contains(out, "failed") {
		return 0, fmt.Errorf("%s: sender: %s", from.Name, out)
	}
	m, err := to.VM.Expect(wcCount, transferTimeout)
	if err != nil {
		return 0, fmt.Errorf("%s: receiver: %w", to.Name, err)
	}
	took := time.Since(start)
	if n, _ := strconv.Atoi(m[1]); n != transferBytes {
		return took, fmt.Errorf("%s: received %s bytes, want %d", to.Name, m[1], transferBytes)
	}
	return took, nil
}

// plpmtudCounters picks TCP's path MTU probing counters out of
// /proc/net/netstat (a line of names, then a line of values, per group).
func plpmtudCounters(netstat string) string {
	lines := strings.Split(strings.ReplaceAll(netstat, "\r", ""), "\n")
	var parts []string
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		for j, n := range names {
			if strings.HasPrefix(n, "TCPMTUP") {
				parts = append(parts, n+" "+values[j])
			}
		}
	}
	if len(parts) == 0 {
		return "no TCPMTUP counters in /proc/net/netstat"
	}
	return strings.Join(parts, ", ")
}

// childBytesOut sums the outbound byte counters of peer's CHILD_SAs in a
// `show ipsec sa` output ("    out SPI B bytes, P packets" lines in the
// peer's block).
func childBytesOut(show, peer string) int {
	total, in := 0, false
	for _, l := range strings.Split(show, "\n") {
		if !strings.HasPrefix(l, " ") {
			in = strings.HasPrefix(l, peer+": ")
			continue
		}
		f := strings.Fields(l)
		if in && len(f) == 6 && f[0] == "out" && f[3] == "bytes," {
			n, _ := strconv.Atoi(f[2])
			total += n
		}
	}
	return total
}
