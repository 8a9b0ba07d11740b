package ipsectest

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/noloss"
	"alixsec.dev/scripts/qemu"
)

// Addresses on the tap link between the namespace (charon) and the board.
var (
	charonAddr = netip.MustParseAddr("10.77.2.1")
	boardAddr  = netip.MustParseAddr("10.77.2.2")
)

// tapScript is QEMU's -netdev tap script: QEMU creates the tap device in
// its own (the host's) namespace and runs the script before the guest
// starts; the script moves the still unconfigured device into the test's
// namespace and configures it there, so nothing of the link stays on the
// host. QEMU keeps its file descriptor across the move.
const tapScript = `#!/bin/sh
set -e
ip link set "$1" netns %[1]s
ip -n %[1]s addr add %[2]s dev "$1"
ip -n %[1]s link set "$1" up
`

// TestBoardAgainstCharon boots one board on a tap device in a network
// namespace where strongSwan's charon runs (kernel-libipsec, so every
// packet is ESP in UDP: the board must float to NAT-T). The board is
// configured through the CLI to start a tunnel-mode CHILD_SA between the
// two hosts; both sides must show it, the board pings charon's address
// through it and the namespace pings the board through charon's TUN
// device. Then the namespace pings the board every 10 ms while ikesvc on
// the board is SIGKILLed twice and restarted (SIGTERM) twice: every ESP
// packet is ESP in UDP, which the board's kernel decapsulates only on a
// UDP_ENCAP socket, so this loses nothing only when the NAT-T socket
// outlives ikesvc (init's fd store). A capture of the tap must hold no
// plaintext ICMP between them.
func TestBoardAgainstCharon(t *testing.T) {
	p := requireQEMU(t)
	t.Parallel()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	pair, err := interop.NewPair(ctx, "charon", "unused")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pair.Close(); err != nil {
			t.Errorf("remove namespaces: %v", err)
		}
	})
	ns := pair.A
	dir := t.TempDir()
	script := filepath.Join(dir, "tap-up.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(tapScript, ns.NS, charonAddr.String()+"/24")), 0o700); err != nil {
		t.Fatal(err)
	}
	tap := fmt.Sprintf("aixt%d", os.Getpid()%100000)
	pcap := filepath.Join(dir, "tap.pcap")

	// charon answers as sun; the board is moon.
	moonCreds, sunCreds := p.Hosts[interop.HostMoon], p.Hosts[interop.HostSun]
	conn := interop.Conn{
		Name:       "board",
		LocalAddr:  charonAddr.String(),
		RemoteAddr: boardAddr.String(),
		LocalCert:  sunCreds.Name + ".crt",
		LocalID:    sunCreds.ID,
		RemoteID:   moonCreds.ID,
		Mode:       "tunnel",
		LocalTS:    charonAddr.String() + "/32",
		RemoteTS:   boardAddr.String() + "/32",
	}
	// bootCharon starts charon in its directory (its certificates stay
	// there from the first boot, as on a disk) and loads conn; it only
	// responds.
	bootCharon := func() *interop.Charon {
		t.Helper()
		c, err := interop.StartCharon(ctx, ns, filepath.Join(dir, "charon"))
		if c != nil {
			t.Cleanup(func() {
				if err := c.Stop(); err != nil {
					t.Errorf("stop charon: %v", err)
				}
				if t.Failed() {
					t.Logf("charon log:\n%s", c.Log())
				}
			})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Install(sunCreds, p.CAs(), p.Main.CRLs); err != nil {
			t.Fatal(err)
		}
		if err := c.Configure(ctx, conn); err != nil {
			t.Fatal(err)
		}
		return c
	}
	charon := bootCharon()

	b := qemu.StartBoard(t, imagePath, "moon-tap",
		"-netdev", fmt.Sprintf("tap,id=l,ifname=%s,script=%s,downscript=no", tap, script),
		"-device", "e1000,netdev=l,mac=52:54:00:77:02:02",
		"-object", "filter-dump,id=f1,netdev=l,file="+pcap)
	if err := b.WaitBoot(); err != nil {
		t.Fatal(err)
	}
	t.Logf("board booted in %v", time.Since(start).Round(time.Second))
	if out, err := exec.CommandContext(ctx, "ip", "-n", ns.NS, "addr", "show", "dev", tap).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), charonAddr.String()+"/24") {
		t.Fatalf("tap %s in namespace %s not configured by %s: %v\n%s", tap, ns.NS, script, err, out)
	}

	pre := "set ipsec peer charon "
	lines := append(qemu.SetLines(moonCreds.ConfigSet),
		"delete interfaces eth0 address 10.99.0.1/24",
		"set interfaces eth0 address "+boardAddr.String()+"/24",
		pre+"address "+charonAddr.String(),
		pre+fmt.Sprintf("remote-id %q", sunCreds.ID),
		pre+"mode tunnel",
		pre+"local-ts "+boardAddr.String()+"/32",
		pre+"remote-ts "+charonAddr.String()+"/32",
		pre+"start-action start",
		pre+fmt.Sprintf("dpd-interval %d", int(charonRebootDPD.Seconds())),
		pre+"dpd-action restart")
	configured := time.Now()
	if err := b.Configure("tunnel-to-charon", lines); err != nil {
		t.Fatal(err)
	}
	show, err := b.WaitSA("ESTABLISHED IKE SA charon with a tunnel CHILD_SA", qemu.SATimeout, qemu.Established("charon", "tunnel").MatchString)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("board: SA established %v after the commit:\n%s", time.Since(configured).Round(time.Second), show)
	if !strings.Contains(show, "NAT") || !strings.Contains(show, ":4500") {
		t.Errorf("board: the IKE SA did not float to NAT-T (UDP 4500) against kernel-libipsec:\n%s", show)
	}
	sas, err := charon.WaitSAs(ctx, 30*time.Second, func(sas []interop.IKESA) bool {
		_, _, err := interop.CheckTunnel(sas, interop.Expect{
			LocalHost: charonAddr.String(), RemoteHost: boardAddr.String(),
			LocalID: sunCreds.ID, RemoteID: moonCreds.ID,
		})
		return err == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("charon: %s", interop.FormatSAs(sas))

	got, out, err := b.Ping(charonAddr.String(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if got == 0 {
		show, _ := b.Run("show ipsec sa")
		t.Fatalf("board: ping %s through the tunnel: no replies:\n%s\nboard afterwards:\n%s\ncharon afterwards: %s",
			charonAddr, out, show, charonCounters(ctx, charon))
	}
	t.Logf("board: ping %s: %d of 3 replies", charonAddr, got)
	replies, err := pingFromNamespace(ns.NS, boardAddr, 3)
	if err != nil {
		t.Fatal(err)
	}
	if replies == 0 {
		t.Fatalf("namespace: ping %s through charon's TUN device: no replies", boardAddr)
	}
	t.Logf("namespace: ping %s through charon: %d of 3 replies", boardAddr, replies)

	show, err = b.Run("show ipsec sa")
	if err != nil {
		t.Fatal(err)
	}
	if err := childCarriedPackets(show, 6); err != nil {
		t.Fatalf("board: %v:\n%s", err, show)
	}
	ikesvcRestartsUnderPings(t, b, ns.NS)
	charonRebootUnderPings(t, b, charon, bootCharon)
	b.VM.Stop()
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts, err := ClassifyPcap(f, [2]netip.Addr{charonAddr, boardAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture of the tap: %v", counts)
	if n := counts.Unprotected(); n > 0 {
		t.Errorf("%d unprotected packets between board and charon: %v", n, counts)
	}
	if n := counts[4][KindESP]; n > 0 {
		t.Errorf("%d plain ESP packets: kernel-libipsec always encapsulates, want ESP in UDP 4500 only", n)
	}
	if n := counts[4][KindESPInUDP]; n < 12 {
		t.Errorf("%d ESP-in-UDP packets on the tap, want at least 12 (6 pings and their replies)", n)
	}
	if counts[4][KindIKE] < 4 {
		t.Errorf("%d IKE messages on the tap, want at least IKE_SA_INIT and IKE_AUTH both ways", counts[4][KindIKE])
	}
	t.Logf("TestBoardAgainstCharon total %v", time.Since(start).Round(time.Second))
}

// ikesvcRestartsUnderPings pings the board every 10 ms from the
// namespace (through charon: ESP in UDP 4500) while ikesvc on the board
// is SIGKILLed twice and restarted with SIGTERM twice, and fails on any
// loss. Each event is 11 s after the last: longer than init's 10 s after
// which a run counts as stable, so every restart is immediate.
func ikesvcRestartsUnderPings(t *testing.T, b *qemu.Board, ns string) {
	t.Helper()
	sh, err := noloss.EnterShell(b)
	if err != nil {
		t.Fatal(err)
	}
	events := []struct{ what, sig string }{{"SIGKILL", "-9"}, {"SIGKILL", "-9"}, {"restart (SIGTERM)", "-15"}, {"restart (SIGTERM)", "-15"}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var log bytes.Buffer
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- noloss.PingInNamespace(ctx, ns, boardAddr, &log, 65535) }()
	time.Sleep(5 * time.Second) // the baseline: nothing may be lost before the first event
	for i, ev := range events {
		at := time.Since(began)
		if err := sh.Signal("ikesvc", ev.sig, 2*time.Minute); err != nil {
			stop()
			<-done
			t.Fatalf("event %d, %s of ikesvc: %v", i+1, ev.what, err)
		}
		t.Logf("event %d: %s of ikesvc at %.1f s of the ping: a new ikesvc runs %v later (console round trips included)",
			i+1, ev.what, at.Seconds(), (time.Since(began) - at).Round(100*time.Millisecond))
		time.Sleep(11 * time.Second)
	}
	stop()
	perr := <-done
	pl, err := noloss.ParsePingLog(log.String())
	if err != nil || perr != nil {
		t.Fatalf("ping from the namespace: %v %v:\n%s", perr, err, log.String())
	}
	t.Logf("pings every 10 ms from charon's namespace to the board over %v, 2 SIGKILLs and 2 restarts of ikesvc: %d sent, %d received, %d lost",
		time.Since(began).Round(100*time.Millisecond), pl.Sent, pl.Received, pl.Lost())
	for _, r := range pl.Losses {
		t.Logf("  lost icmp_seq %d-%d (%d) at %.2f s", r.First, r.Last, r.Lost(), r.Uptime)
	}
	if pl.Lost() > 0 {
		t.Errorf("%d pings lost through the ikesvc restarts, want 0", pl.Lost())
	}
	if _, err := b.Run("exit"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitSA("the SA after the restarts", qemu.SATimeout, qemu.Established("charon", "tunnel").MatchString); err != nil {
		t.Fatal(err)
	}
	if out, err := b.Run("show log"); err == nil && (strings.Contains(out, "not ours") || strings.Contains(out, "discarded")) {
		t.Errorf("board's log:\n%s", qemu.Tail(out, 30))
	}
}

// charonRebootDPD is the board's dpd-interval towards charon (the
// configuration's minimum).
const charonRebootDPD = 5 * time.Second

// charonRebootUnderPings: charon reboots (SIGKILL: no Delete; with
// kernel-libipsec its SAs go with the process) and starts afresh, while
// the board pings charon every 10 ms through the tunnel (ESP in UDP
// towards a dead charon while it is down: nothing in the clear). Charon
// only responds and says nothing about the IKE SA it lost, so the board's
// DPD (dpd-interval 5, dpd-action restart) finds it: its liveness check
// goes unanswered, it probes with a fresh IKE SA after two
// retransmissions (1.5 s) and drops the old one once that is up. The
// pings must pass again within dpd-interval + 1.5 s + one handshake
// under TCG (3 s), with one run of losses only; both sides then hold one
// IKE SA with one CHILD_SA.
func charonRebootUnderPings(t *testing.T, b *qemu.Board, c *interop.Charon, boot func() *interop.Charon) {
	t.Helper()
	const (
		interval = 10 * time.Millisecond
		bound    = charonRebootDPD + 1500*time.Millisecond + 3*time.Second
	)
	sh, err := noloss.EnterShell(b)
	if err != nil {
		t.Fatal(err)
	}
	pinger, err := noloss.StartPinger(sh, charonAddr, interval, "/tmp/charon-reboot.ping")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the baseline: nothing may be lost before the reboot
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	c = boot()
	t.Logf("charon killed and started again in %v", time.Since(killed).Round(10*time.Millisecond))
	time.Sleep(time.Until(killed.Add(bound + 5*time.Second)))
	pl, out, err := pinger.Stop()
	if err != nil {
		t.Fatalf("the board's ping: %v\n%s", err, out)
	}
	outage := time.Duration(pl.Lost()) * interval
	t.Logf("charon reboot: the board's pings every 10 ms: %d sent, %d received, %d lost: pings pass again %.2f s after the kill (bound %v)",
		pl.Sent, pl.Received, pl.Lost(), outage.Seconds(), bound)
	for _, r := range pl.Losses {
		t.Logf("  lost icmp_seq %d-%d (%d) at %.2f s", r.First, r.Last, r.Lost(), r.Uptime)
	}
	if len(pl.Losses) != 1 || pl.Received == 0 {
		t.Errorf("charon reboot: %d runs of losses, want the one outage of the reboot:\n%s", len(pl.Losses), out)
	}
	if outage > bound {
		t.Errorf("charon reboot: pings lost for %v, want at most %v (dpd-interval, the probe's 1.5 s, a handshake)", outage, bound)
	}
	if _, err := b.Run("exit"); err != nil {
		t.Fatal(err)
	}
	show, err := b.WaitSA("the SA after charon's reboot", qemu.SATimeout, qemu.Established("charon", "tunnel").MatchString)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := strings.Count(show, ": IKE SA "), strings.Count(show, "CHILD_SA "); n != 1 || m != 1 {
		t.Errorf("board after charon's reboot: %d IKE SAs and %d CHILD_SAs, want 1 each:\n%s", n, m, show)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sas, err := c.ListSAs(ctx); err != nil || len(sas) != 1 || len(sas[0].Children) != 1 {
		t.Errorf("charon after its reboot: want one IKE SA with one CHILD_SA: %v %s", err, interop.FormatSAs(sas))
	}
	if log, err := b.Run("show log"); err != nil || !strings.Contains(log, "the peer lost it") {
		t.Errorf("board's log lacks the probe's verdict (%v):\n%s", err, qemu.Tail(log, 30))
	}
}

// charonCounters prints charon's CHILD_SAs with their packet counters, for
// a failure message: which side dropped the packets.
func charonCounters(ctx context.Context, c *interop.Charon) string {
	sas, err := c.ListSAs(ctx)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, sa := range sas {
		for _, ch := range sa.Children {
			fmt.Fprintf(&b, "\n  %s %s in %d packets, out %d packets", ch.Name, ch.State, ch.PacketsIn, ch.PacketsOut)
		}
	}
	return interop.FormatSAs(sas) + b.String()
}
