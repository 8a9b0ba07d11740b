package ipsectest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/qemu"
)

// saView is what `show ipsec sa` says of the one IKE SA: its SPIs and the
// kernel's counters of its CHILD_SA.
type saView struct {
	ikeSPIs, inSPI, outSPI string
	inBytes, outBytes      int
}

var (
	ikeSPIsRe  = regexp.MustCompile(`SPIs\s+([0-9a-f]{16}_i [0-9a-f]{16}_r)`)
	childDirRe = regexp.MustCompile(`(?m)^\s+(in|out)\s+([0-9a-f]{8})\s+(\d+) bytes`)
	pidRe      = regexp.MustCompile(`^[0-9]+$`)
)

func parseSAView(show string) (saView, error) {
	var v saView
	m := ikeSPIsRe.FindStringSubmatch(show)
	dirs := childDirRe.FindAllStringSubmatch(show, -1)
	if m == nil || len(dirs) != 2 {
		return v, fmt.Errorf("want one IKE SA with one CHILD_SA in:\n%s", show)
	}
	v.ikeSPIs = m[1]
	for _, d := range dirs {
		n, _ := strconv.Atoi(d[3])
		if d[1] == "in" {
			v.inSPI, v.inBytes = d[2], n
		} else {
			v.outSPI, v.outBytes = d[2], n
		}
	}
	return v, nil
}

// TestBoardIkesvcKill: ikesvc on a board is killed with SIGKILL, twice;
// init starts it again at once, and from its state in /run it continues
// the same IKE SA and CHILD_SA: same SPIs, and the kernel's counters go on
// (the SAs were adopted, not re-added), and traffic still passes. One
// board pair, transport mode over IPv4; the no-loss figures under 10 ms
// pings are the benchmark's.
func TestBoardIkesvcKill(t *testing.T) {
	p := requireQEMU(t)
	t.Parallel()
	ports := qemu.FreeUDPPorts(t, 2)
	netArgs := func(self, other int, mac string) []string {
		return []string{
			"-netdev", fmt.Sprintf("socket,id=l,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", other, self),
			"-device", "e1000,netdev=l,mac=" + mac,
		}
	}
	moon := qemu.StartBoard(t, imagePath, "moon", netArgs(ports[0], ports[1], "52:54:00:77:02:01")...)
	sun := qemu.StartBoard(t, imagePath, "sun", netArgs(ports[1], ports[0], "52:54:00:77:02:02")...)
	boards := []*qemu.Board{moon, sun}
	if err := qemu.Each(boards, (*qemu.Board).WaitBoot); err != nil {
		t.Fatal(err)
	}
	ph := phase{peer: "t4", mode: "transport"}
	m, s := ph.addrs()
	lines := map[*qemu.Board][]string{
		moon: append(qemu.SetLines(p.Hosts[interop.HostMoon].ConfigSet),
			"delete interfaces eth0 address 10.99.0.1/24", "set interfaces eth0 address "+m.String()+"/24"),
		sun: append(qemu.SetLines(p.Hosts[interop.HostSun].ConfigSet),
			"delete interfaces eth0 address 10.99.0.1/24", "set interfaces eth0 address "+s.String()+"/24"),
	}
	lines[moon] = append(lines[moon], ph.peerLines(m, s, p.Hosts[interop.HostSun].ID, true)...)
	lines[sun] = append(lines[sun], ph.peerLines(s, m, "", false)...)
	for _, b := range []*qemu.Board{sun, moon} {
		if err := b.Configure("restart-test", lines[b]); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range boards {
		if _, err := b.WaitSA("ESTABLISHED IKE SA t4", qemu.SATimeout, qemu.Established(ph.peer, ph.mode).MatchString); err != nil {
			t.Fatal(err)
		}
	}
	view := func() saView {
		t.Helper()
		out, err := moon.Run("show ipsec sa")
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseSAView(out)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ping := func(when string) {
		t.Helper()
		if got, out, err := moon.Ping(s.String(), 3); err != nil || got == 0 {
			t.Fatalf("ping %s: %d replies, %v:\n%s", when, got, err, out)
		}
	}
	ping("before the kills")
	before := view()
	pidof := func() string { // "" while ikesvc is not running
		t.Helper()
		out, err := moon.Run("pidof ikesvc")
		if err != nil {
			t.Fatal(err)
		}
		if out = strings.TrimSpace(out); !pidRe.MatchString(out) {
			return ""
		}
		return out
	}
	if _, err := moon.Run("start shell"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		pid := pidof()
		if pid == "" {
			t.Fatal("ikesvc is not running")
		}
		if out, err := moon.Run("kill -9 " + pid); err != nil {
			t.Fatalf("kill -9 %s: %v %s", pid, err, out)
		}
		killed := time.Now()
		now := pidof()
		for ; now == "" || now == pid; now = pidof() {
			if time.Since(killed) > 20*time.Second {
				t.Fatalf("kill %d: ikesvc not restarted within 20 s", i)
			}
		}
		t.Logf("kill %d: ikesvc %s restarted as %s within %v (console round trips included)", i, pid, now, time.Since(killed).Round(100*time.Millisecond))
	}
	if _, err := moon.Run("exit"); err != nil {
		t.Fatal(err)
	}
	if _, err := moon.WaitSA("the IKE SA after the restarts", qemu.SATimeout, qemu.Established(ph.peer, ph.mode).MatchString); err != nil {
		t.Fatal(err)
	}
	after := view()
	if after.ikeSPIs != before.ikeSPIs || after.inSPI != before.inSPI || after.outSPI != before.outSPI {
		t.Fatalf("not the same SAs after the kills: before %+v, after %+v", before, after)
	}
	if after.inBytes < before.inBytes || after.outBytes < before.outBytes {
		t.Fatalf("kernel counters went back (SAs re-added): before %+v, after %+v", before, after)
	}
	ping("after the kills")
	if final := view(); final.inBytes <= before.inBytes || final.outBytes <= before.outBytes {
		t.Fatalf("the pings after the kills did not use the continued CHILD_SA: before %+v, after %+v", before, final)
	}
	log, err := moon.Run("show log")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log, "discarded") || !strings.Contains(log, "killed") {
		t.Errorf("moon's log:\n%s", qemu.Tail(log, 20))
	}
}
