package imagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/noloss"
	"alixsec.dev/scripts/qemu"
)

// TestUpgradeOverSSH is issue 10's upgrade as an admin does it: gw1 (its
// own CF image, watchdog, reboots inside QEMU) has an IPsec tunnel to a
// second board over a QEMU socket link (gw1's eth0) and its SSH port on a
// user net (eth1), and `system update health-peer` names the tunnel.
//
//   - `ssh gw1 request system upgrade - < qemu-next.upd` exits 0; gw1
//     boots the new version on trial, and while the peer refuses the
//     tunnel it is not marked good; once the peer takes it again the
//     trial ends healthy, the new slot is the default, the config (and
//     the SSH host key) are kept, the SA is back and a ping is protected.
//   - A plain reboot runs the new slot and writes nothing to the boot
//     partition.
//   - `ssh gw1 request system rollback` boots the old version, which
//     becomes the default again with the config and the tunnel.
func TestUpgradeOverSSH(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatalf("OpenSSH client missing (scripts/deps.sh installs openssh-client): %v", err)
	}
	update := artifact(t, "upgrade/qemu-next.upd")
	image := artifact(t, "qemu.img")
	root, err := interop.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pki, err := interop.NewPKI(ctx, root, filepath.Join(t.TempDir(), "pki"))
	cancel()
	if err != nil {
		t.Fatalf("test PKI: %v", err)
	}

	links := qemu.FreeUDPPorts(t, 2)
	sshPort := qemu.FreeTCPPort(t)
	link := func(self, other int, mac string) []string {
		return []string{
			"-netdev", fmt.Sprintf("socket,id=l,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", other, self),
			"-device", "e1000,netdev=l,mac=" + mac,
		}
	}
	gw := newUpgradeBoard(t)
	// eth0 the link to the peer, eth1 the user net with SSH.
	gw.net = append(link(links[0], links[1], "52:54:00:77:0a:01"), qemu.SSHNetArgs(sshPort)...)
	start := time.Now()
	base := gw.powerOn()
	peer := qemu.StartBoard(t, image, "peer", link(links[1], links[0], "52:54:00:77:0a:02")...)
	if err := peer.WaitBoot(); err != nil {
		t.Fatal(err)
	}
	gw1 := &qemu.Board{Name: "gw1", VM: gw.vm} // the same QEMU across guest reboots
	// Before newUpgradeBoard's cleanup, which prints the console log.
	t.Cleanup(func() {
		if t.Failed() && !gw.vm.Exited() {
			for _, c := range []string{"", "exit", "show ipsec sa", "show log"} {
				gw.vm.Command(c, 30*time.Second)
			}
		}
	})
	t.Logf("both boards booted in %v", time.Since(start).Round(time.Second))
	m := consoleHostKey.FindStringSubmatch(gw.vm.Log())
	if m == nil {
		t.Fatal("gw1's console did not show the ssh host key fingerprint")
	}
	fingerprint := m[1]

	gwAddr, peerAddr := noloss.Moon4, noloss.Sun4
	pe := noloss.Peer{Name: "site", Mode: "tunnel"}
	user := newSSHKey(t)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(user.PublicKey()))) + " test@host"
	peerLines := pe.Lines(peerAddr, gwAddr, "", false)
	if err := peer.Configure("pki-and-peer", append(noloss.BaseLines(pki, interop.HostSun, peerAddr, noloss.Sun6), peerLines...)); err != nil {
		t.Fatal(err)
	}
	gw.configure(append(append(noloss.BaseLines(pki, interop.HostMoon, gwAddr, noloss.Moon6),
		"set interfaces eth1 address 10.99.0.1/24",
		"set system description keep-me",
		"set system update health-peer "+pe.Name,
		`set system ssh authorized-key test "`+authorized+`"`),
		pe.Lines(gwAddr, peerAddr, pki.Hosts[interop.HostSun].ID, true)...)...)
	tunnelUp(t, gw1, peer, pe, peerAddr, "before the upgrade")

	// OpenSSH with the host key the console showed (fetched once with the
	// Go client, which checks it): every later ssh also checks that the
	// upgrades kept it.
	dir := t.TempDir()
	keyFile := writeOpenSSHKey(t, dir, "id_ed25519", user)
	knownHosts := filepath.Join(dir, "known_hosts")
	hostKey := fetchHostKey(t, sshPort, user, fingerprint)
	if err := os.WriteFile(knownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", sshPort, ssh.MarshalAuthorizedKey(hostKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	openssh := func(command string, stdin []byte) (string, int) {
		t.Helper()
		args := []string{"-F", "/dev/null", "-p", fmt.Sprint(sshPort), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
			"-o", "IdentityAgent=none", "-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=yes",
			"-o", "ConnectTimeout=90", "-o", "LogLevel=ERROR", "-i", keyFile, "admin@127.0.0.1", command}
		cmd := exec.Command(sshBin, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return string(out), exit.ExitCode()
		}
		if err != nil {
			t.Fatalf("ssh %s: %v", command, err)
		}
		return string(out), 0
	}

	// The peer refuses the tunnel for now: the health check must wait.
	if err := peer.Configure("refuse-gw1", []string{"delete ipsec peer " + pe.Name}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(update)
	if err != nil {
		t.Fatal(err)
	}
	mark := len(gw.vm.Log())
	upgradeStart := time.Now()
	out, status := openssh("request system upgrade -", data)
	t.Logf("ssh request system upgrade - < qemu-next.upd: exit %d after %v:\n%s", status, time.Since(upgradeStart).Round(time.Second), strings.TrimSpace(out))
	installed := regexp.MustCompile(`upgrade to (\S+) installed; it becomes the default once it comes up healthy`).FindStringSubmatch(out)
	if status != 0 || installed == nil || !strings.Contains(out, "CF writes of this upgrade:") || !strings.Contains(out, "rebooting...") {
		t.Fatalf("ssh request system upgrade -: exit %d, want 0 with the install and reboot lines:\n%s", status, out)
	}
	next := gw.waitBoot()
	if next == base || next != installed[1] {
		t.Fatalf("the upgrade to %s booted %s (before: %s)", installed[1], next, base)
	}
	if !strings.Contains(gw.vm.Log()[mark:], "on trial") {
		t.Fatalf("the new firmware did not boot on trial:\n%s", qemu.Tail(gw.vm.Log()[mark:], 30))
	}
	// Services up, config applied: only the tunnel is missing.
	time.Sleep(20 * time.Second)
	if log := gw.vm.Log()[mark:]; strings.Contains(log, "firmware: healthy") || strings.Contains(log, "not healthy") {
		t.Fatalf("the trial ended while the health peer refused the tunnel:\n%s", qemu.Tail(log, 30))
	}
	if out := gw.run("show system"); !strings.Contains(out, "slot b running "+next+", boot default slot a") {
		t.Fatalf("show system during the trial (want slot b on trial, default still a):\n%s", out)
	}
	trialAt := time.Now()
	if err := peer.Configure("take-gw1-again", peerLines); err != nil {
		t.Fatal(err)
	}
	// Well inside the health timeout (300 s): a miss shows gw1's log of
	// the trial, not of the fallback boot after it.
	healthy := waitLog(t, gw, mark, `firmware: healthy after (\S+)`, 2*time.Minute)
	upgradeTime := time.Since(upgradeStart)
	t.Logf("upgrade %s -> %s over ssh: marked good (%s after the trial boot) %v after the ssh command started, %v after the peer took the tunnel again",
		base, next, healthy[1], upgradeTime.Round(time.Second), time.Since(trialAt).Round(time.Second))
	checkSlots(t, gw, "b", next, "b", "a", base, "upgrade")
	checkConfigKept(t, gw)
	tunnelUp(t, gw1, peer, pe, peerAddr, "after the upgrade")
	if out, status := openssh("show system", nil); status != 0 || !strings.Contains(out, "slot b running "+next+", boot default slot b") {
		t.Fatalf("ssh show system after the upgrade: exit %d:\n%s", status, out)
	}

	// It stays: a plain reboot runs the new slot, and neither syslinux
	// nor the firmware writes a byte of the boot partition doing so.
	bootBefore := gw.bootPartition()
	if err := gw.vm.Type("reboot"); err != nil {
		t.Fatal(err)
	}
	if v := gw.waitBoot(); v != next {
		t.Fatalf("after a reboot %s runs, want %s", v, next)
	}
	gw.run("show system")
	if !bytes.Equal(bootBefore, gw.bootPartition()) {
		t.Fatal("a plain boot wrote to the boot partition (syslinux's ADV or a slot)")
	}

	// Rollback over SSH: the old version, on trial, then the default.
	gw.waitAddress("10.99.0.1/24")
	mark = len(gw.vm.Log())
	rollbackStart := time.Now()
	out, status = sshRetry(openssh, "request system rollback")
	if status != 0 || !strings.Contains(out, "the next boot tries slot a once") || !strings.Contains(out, "rebooting...") {
		t.Fatalf("ssh request system rollback: exit %d, want 0:\n%s", status, out)
	}
	if v := gw.waitBoot(); v != base {
		t.Fatalf("the rollback booted %s, want %s", v, base)
	}
	healthy = waitLog(t, gw, mark, `firmware: healthy after (\S+)`, trialTimeout)
	t.Logf("rollback %s -> %s over ssh: marked good (%s after the boot) %v after the ssh command started",
		next, base, healthy[1], time.Since(rollbackStart).Round(time.Second))
	checkSlots(t, gw, "a", base, "a", "b", next, "rollback")
	checkConfigKept(t, gw)
	tunnelUp(t, gw1, peer, pe, peerAddr, "after the rollback")
}

// sshRetry runs an ssh command, again while sshd is not listening yet
// after a boot (connection refused: the command never reached the board).
func sshRetry(openssh func(string, []byte) (string, int), command string) (string, int) {
	deadline := time.Now().Add(qemu.CommandTimeout)
	for {
		out, status := openssh(command, nil)
		if status != 255 || !strings.Contains(out, "Connection refused") || time.Now().After(deadline) {
			return out, status
		}
		time.Sleep(2 * time.Second)
	}
}

// fetchHostKey logs in with the Go client, which checks the host key
// against the console's fingerprint, and returns the key.
func fetchHostKey(t *testing.T, port int, user testKey, fingerprint string) ssh.PublicKey {
	t.Helper()
	var hostKey ssh.PublicKey
	cfg := &ssh.ClientConfig{User: "admin", Auth: []ssh.AuthMethod{ssh.PublicKeys(user)}, Timeout: sshTimeout,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if got := "ED25519 " + ssh.FingerprintSHA256(key); got != fingerprint {
				return fmt.Errorf("host key %s, but the console showed %s", got, fingerprint)
			}
			hostKey = key
			return nil
		}}
	// sshd follows the commit: the first tries may come before it listens.
	var err error
	for deadline := time.Now().Add(qemu.CommandTimeout); ; time.Sleep(2 * time.Second) {
		var c *ssh.Client
		if c, err = ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg); err == nil {
			c.Close()
			return hostKey
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Fatalf("ssh login to gw1: %v", err)
	return nil
}

// waitLog waits until the console log after mark matches re (the
// console harness's read position may already be past it).
func waitLog(t *testing.T, b *upgradeBoard, mark int, re string, timeout time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Second) {
		log := b.vm.Log()[mark:]
		if m := rx.FindStringSubmatch(log); m != nil {
			return m
		}
		if strings.Contains(log, "not healthy") || time.Now().After(deadline) {
			if !strings.Contains(log, "not healthy") {
				out, _ := b.vm.Command("show log", 30*time.Second)
				sa, _ := b.vm.Command("show ipsec sa", 30*time.Second)
				t.Logf("gw1's show ipsec sa:\n%s\ngw1's show log:\n%s", sa, qemu.Tail(out, 60))
			}
			t.Fatalf("console never printed %q:\n%s", re, qemu.Tail(log, 40))
		}
	}
}

// checkSlots checks show system's firmware lines: the running slot and
// version, the boot default, the other slot's version and the last
// attempt (kind) marked good.
func checkSlots(t *testing.T, b *upgradeBoard, slot, version, def, other, otherVersion, kind string) {
	t.Helper()
	out := b.run("show system")
	if !strings.Contains(out, "slot "+slot+" running "+version+", boot default slot "+def) ||
		!strings.Contains(out, "other slot: "+other+" holds "+otherVersion) ||
		!regexp.MustCompile(`last `+kind+`: \S+ to `+regexp.QuoteMeta(version)+` \(slot `+other+` to `+slot+`\) good at `).MatchString(out) ||
		strings.Contains(out, "next boot:") {
		t.Fatalf("show system after the %s:\n%s", kind, out)
	}
}

func checkConfigKept(t *testing.T, b *upgradeBoard) {
	t.Helper()
	out := b.run("show configuration")
	for _, want := range []string{"keep-me", "health-peer site", "authorized-key test", "10.77.1.1/24", "10.99.0.1/24", "ipsec peer site"} {
		if !strings.Contains(out, want) {
			t.Fatalf("config lacks %q:\n%s", want, out)
		}
	}
}

// tunnelUp waits for the SA on both boards and checks that a ping from
// gw1 to the peer went through its CHILD_SA (the kernel's counters grew).
func tunnelUp(t *testing.T, gw1, peer *qemu.Board, pe noloss.Peer, to fmt.Stringer, when string) {
	t.Helper()
	start := time.Now()
	var show string
	for _, b := range []*qemu.Board{gw1, peer} {
		out, err := b.WaitSA("ESTABLISHED "+pe.Mode+" SA "+pe.Name+" "+when, qemu.SATimeout, qemu.Established(pe.Name, pe.Mode).MatchString)
		if err != nil {
			t.Fatal(err)
		}
		if b == gw1 {
			show = out
		}
	}
	in0, out0 := childPackets(show)
	got, out, err := gw1.Ping(to.String(), 3)
	if err != nil || got == 0 {
		t.Fatalf("%s: ping %s: %d replies (%v):\n%s", when, to, got, err, out)
	}
	after, err := gw1.Run("show ipsec sa")
	if err != nil {
		t.Fatal(err)
	}
	if in1, out1 := childPackets(after); in1-in0 < got || out1-out0 < 3 {
		t.Fatalf("%s: the ping did not go through the CHILD_SA (packets in %d -> %d, out %d -> %d):\n%s", when, in0, in1, out0, out1, after)
	}
	t.Logf("%s: SA %s established on both boards (waited %v), ping %s: %d of 3 through the CHILD_SA",
		when, pe.Name, time.Since(start).Round(time.Second), to, got)
}

// childPackets sums the CHILD_SA packet counters in `show ipsec sa`
// ("    in  SPI  B bytes, P packets").
func childPackets(show string) (in, out int) {
	for _, l := range strings.Split(show, "\n") {
		f := strings.Fields(l)
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
	return in, out
}
