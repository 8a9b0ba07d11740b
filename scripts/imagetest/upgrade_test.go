package imagetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/firmware/bootpart"
	"alixsec.dev/firmware/updfile"
	"alixsec.dev/scripts/qemu"
)

// Upgrade tests boot the QEMU board with an i6300esb watchdog and without
// -no-reboot: every reboot (the upgrade's, a kernel panic's with panic=5,
// the watchdog's) happens inside the same QEMU, as on the hardware. Update
// files come from a host HTTP server on loopback that the guest reaches
// at 10.0.2.100:80 through QEMU user networking's guestfwd.
const (
	upgradeServer  = "http://10.0.2.100"
	trialTimeout   = 420 * time.Second // upgrade, reboot, trial boot, health check (or watchdog, 60 s) and fallback boot
	upgradeTimeout = 240 * time.Second // transfer, verify and slot write under TCG
)

var bannerRe = regexp.MustCompile(`alixsec (\S+) board=qemu`)

// upgradeBoard is one CF card image booted again and again.
type upgradeBoard struct {
	t     *testing.T
	disk  string
	vm    *qemu.VM
	stop  context.CancelFunc
	port  int
	net   []string // QEMU network arguments; nil: one NIC on the guestfwd user net
	mu    sync.Mutex
	files map[string][]byte // served at /NAME
}

func newUpgradeBoard(t *testing.T) *upgradeBoard {
	t.Helper()
	b := &upgradeBoard{t: t, disk: filepath.Join(t.TempDir(), "qemu.img"), files: map[string][]byte{}}
	data, err := os.ReadFile(artifact(t, "qemu.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.disk, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.port = l.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		data, ok := b.files[strings.TrimPrefix(r.URL.Path, "/")]
		b.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	})}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		if b.vm != nil && t.Failed() {
			t.Logf("console log:\n%s", b.vm.Log())
			if crashes := qemu.CrashLines(b.vm.Log(), 12); crashes != "" {
				t.Logf("crash lines:\n%s", crashes)
			}
		}
		b.kill()
	})
	return b
}

func (b *upgradeBoard) serve(name string, data []byte) string {
	b.mu.Lock()
	b.files[name] = data
	b.mu.Unlock()
	return upgradeServer + "/" + name
}

// powerOn starts QEMU and waits for the banner; it returns the version.
func (b *upgradeBoard) powerOn() string {
	b.t.Helper()
	b.kill()
	ctx, cancel := context.WithCancel(context.Background())
	netArgs := b.net
	if netArgs == nil {
		netArgs = []string{
			"-netdev", "user,id=lan,restrict=on," + qemu.GuestForward("10.0.2.100:80", b.port),
			"-device", "e1000,netdev=lan",
		}
	}
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: b.disk,
		Extra: append([]string{"-device", "i6300esb"}, netArgs...),
	})
	if err != nil {
		cancel()
		b.t.Fatal(err)
	}
	b.vm, b.stop = vm, cancel
	return b.waitBoot()
}

// waitBoot waits for the next banner and the CLI; it returns the version.
func (b *upgradeBoard) waitBoot() string {
	b.t.Helper()
	m, err := b.vm.Expect(bannerRe, trialTimeout)
	if err != nil {
		b.t.Fatalf("no boot banner: %v", err)
	}
	if _, err := b.vm.Expect(qemu.CLIPrompt, bootTimeout); err != nil {
		b.t.Fatalf("no CLI prompt after booting %s: %v", m[1], err)
	}
	return m[1]
}

// waitAddress waits until init has applied the config's eth0 address: a
// board that just booted takes a moment, and an upgrade URL is
// unreachable before it.
func (b *upgradeBoard) waitAddress(addr string) {
	b.t.Helper()
	var out string
	for deadline := time.Now().Add(bootTimeout); time.Now().Before(deadline); time.Sleep(time.Second) {
		if out = b.run("show interfaces"); strings.Contains(out, addr) {
			return
		}
	}
	b.t.Fatalf("eth0 never got %s:\n%s", addr, out)
}

func (b *upgradeBoard) kill() {
	if b.vm != nil {
		b.vm.Stop()
		b.stop()
		b.vm = nil
	}
}

func (b *upgradeBoard) run(line string) string {
	b.t.Helper()
	out, err := b.vm.Command(line, bootTimeout)
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// expect waits for console text matching re.
func (b *upgradeBoard) expect(re string, timeout time.Duration) []string {
	b.t.Helper()
	m, err := b.vm.Expect(regexp.MustCompile(re), timeout)
	if err != nil {
		b.t.Fatalf("waiting for %q: %v", re, err)
	}
	return m
}

// configure commits set lines.
func (b *upgradeBoard) configure(lines ...string) {
	b.t.Helper()
	b.run("configure")
	for _, l := range lines {
		if out := b.run(l); strings.Contains(out, "%") {
			b.t.Fatalf("%s: %s", l, out)
		}
	}
	if out := b.run("commit"); !strings.Contains(out, "committed revision") {
		b.t.Fatalf("commit: %s", out)
	}
	b.run("exit")
}

// slotBytes reads a slot's files from the disk image on the host.
func (b *upgradeBoard) slotBytes(slot string) []byte {
	b.t.Helper()
	f, err := os.Open(b.disk)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	boot, err := bootpart.Open(readOnlyDisk{bootpart.Section{F: f, Off: 2048 * 512}})
	if err != nil {
		b.t.Fatal(err)
	}
	k, i, err := boot.ReadSlot(slot)
	if err != nil {
		b.t.Fatal(err)
	}
	return append(k, i...)
}

type readOnlyDisk struct{ bootpart.Section }

func (readOnlyDisk) WriteAt([]byte, int64) (int, error) { return 0, os.ErrPermission }

// updateFile reads a built update file.
func updateFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(artifact(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// resign returns the firmware of a built update file signed by key for
// board.
func resign(t *testing.T, data []byte, key updfile.SecretKey, board string) []byte {
	t.Helper()
	k, i := payloads(t, data)
	var buf bytes.Buffer
	if err := updfile.Write(&buf, key, board, "resigned", k, i); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// payloads splits a built update file into its kernel and initramfs,
// verifying it with the build's key.
func payloads(t *testing.T, data []byte) (kernel, initrd []byte) {
	t.Helper()
	keyDir := os.Getenv("ALIXSEC_UPDATE_KEYS")
	if keyDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		keyDir = filepath.Join(cache, "alixsec", "update-key")
	}
	pubData, err := os.ReadFile(filepath.Join(keyDir, updfile.PublicKeyFile))
	if err != nil {
		t.Fatalf("the build's update key: %v", err)
	}
	pub, err := updfile.ParsePublicKey(string(pubData))
	if err != nil {
		t.Fatal(err)
	}
	u, err := updfile.Read(bytes.NewReader(data), []updfile.PublicKey{pub}, updfile.Limits{Board: "qemu", MaxKernel: 1 << 30, MaxInitrd: 1 << 30})
	if err != nil {
		t.Fatalf("built update file: %v", err)
	}
	return u.Kernel, u.Initrd
}

// TestUpgradeRefusedAndBroken boots one board and shows, in order, with
// update files fetched over HTTP: bad update files are refused before any
// write (slot b's bytes and the CF write counter unchanged); a firmware
// whose init exits and one that hangs are tried once and the board comes
// back on the old slot by itself with the reason in show system. The good
// upgrade (and the plain reboot after it) is TestUpgradeOverSSH's.
func TestUpgradeRefusedAndBroken(t *testing.T) {
	b := newUpgradeBoard(t)
	base := b.powerOn()
	b.configure("set interfaces eth0 address 10.0.2.15/24", "set system description keep-me")
	if out := b.run("show system"); !strings.Contains(out, "slot a running "+base+", boot default slot a") {
		t.Fatalf("factory show system:\n%s", out)
	}

	// Refused before any write.
	good := updateFile(t, "upgrade/qemu-next.upd")
	tampered := append([]byte{}, good...)
	tampered[len(tampered)-4096] ^= 0x40
	_, otherKey, err := updfile.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	slotB := b.slotBytes("b")
	before, err := b.vm.SectorsWritten(bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"tampered", "tampered.upd", tampered, "payload does not match the signed header"},
		{"another key", "otherkey.upd", resign(t, good, otherKey, "qemu"), "signed by a key this board does not trust"},
		{"another board", "alix.upd", updateFile(t, "alix.upd"), `board "alix", this is "qemu": built for another board`},
		{"not found", "missing.upd", nil, "404 Not Found"},
	}
	for _, r := range refusals {
		url := upgradeServer + "/" + r.file
		if r.data != nil {
			url = b.serve(r.file, r.data)
		}
		out, err := b.vm.Command("request system upgrade "+url, upgradeTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, r.want) || !strings.HasPrefix(strings.TrimSpace(out), "% request system upgrade:") {
			t.Fatalf("%s: request system upgrade printed:\n%s\nwant %q", r.name, out, r.want)
		}
		t.Logf("%s refused: %s", r.name, strings.TrimSpace(out))
	}
	after, err := b.vm.SectorsWritten(bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("refused updates wrote %d sectors to the CF", after-before)
	}
	if !bytes.Equal(slotB, b.slotBytes("b")) {
		t.Fatal("a refused update changed slot b")
	}

	// Broken firmware: tried once, then the old slot by itself.
	broken := []struct {
		name, file, reason string
		sign               string // console text of the broken boot
	}{
		{"init exits", "qemu-initexits.upd", "started init but did not come up healthy", `Kernel panic - not syncing: Attempted to kill init`},
		{"init hangs", "qemu-hangs.upd", "started init but did not come up healthy", `init hangs on purpose`},
	}
	for _, br := range broken {
		url := b.serve(br.file, updateFile(t, "upgrade/"+br.file))
		start := time.Now()
		if err := b.vm.Type("request system upgrade " + url); err != nil {
			t.Fatal(err)
		}
		b.expect(`upgrade to \S+ installed`, upgradeTimeout)
		if v := b.expect(bannerRe.String(), trialTimeout)[1]; v == base {
			t.Fatalf("%s: the trial boot ran the old version %s", br.name, v)
		}
		b.expect(regexp.QuoteMeta(br.sign), trialTimeout)
		if v := b.waitBoot(); v != base {
			t.Fatalf("%s: after the broken trial %s booted, want %s", br.name, v, base)
		}
		out := b.run("show system")
		if !strings.Contains(out, "slot a running "+base+", boot default slot a") || !strings.Contains(out, "failed") || !strings.Contains(out, br.reason) {
			t.Fatalf("%s: show system after the fallback:\n%s", br.name, out)
		}
		t.Logf("%s: back on slot a by itself after %s", br.name, time.Since(start).Round(time.Second))
		if out := b.run("show configuration system description"); !strings.Contains(out, "keep-me") {
			t.Fatalf("%s: config lost: %s", br.name, out)
		}
		b.waitAddress("10.0.2.15/24")
	}
}

// bootPartition reads the boot partition's bytes from the disk image.
func (b *upgradeBoard) bootPartition() []byte {
	b.t.Helper()
	f, err := os.Open(b.disk)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 32<<20)
	if _, err := f.ReadAt(buf, 2048*512); err != nil {
		b.t.Fatal(err)
	}
	return buf
}

var slotStatusRe = regexp.MustCompile(`firmware:  slot ([ab]) running (\S+), boot default slot ([ab])`)

// settle waits until no trial is pending (the running slot is the boot
// default) and returns the running slot and version.
func (b *upgradeBoard) settle() (slot, version string) {
	b.t.Helper()
	deadline := time.Now().Add(trialTimeout)
	for {
		out := b.run("show system")
		m := slotStatusRe.FindStringSubmatch(out)
		if m == nil {
			b.t.Fatalf("show system has no firmware line:\n%s", out)
		}
		if m[1] == m[3] && !strings.Contains(out, "next boot:") {
			return m[1], m[2]
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("still on trial after %s:\n%s", trialTimeout, out)
		}
		time.Sleep(5 * time.Second)
	}
}

// TestUpgradePowerCuts cuts the power at a random moment of an upgrade
// (transfer, verify, slot write, boot-once, reboot, trial boot, mark good),
// 20 times (UPGRADE_POWERCUT_ROUNDS overrides), alternating between two
// versions. After each cut the board must boot a good slot by itself, with
// its config, and take the next upgrade.
func TestUpgradePowerCuts(t *testing.T) {
	rounds := 20
	if s := os.Getenv("UPGRADE_POWERCUT_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	seed := time.Now().UnixNano()
	rng := newRand(seed)
	t.Logf("random seed %d", seed)

	b := newUpgradeBoard(t)
	base := b.powerOn()
	b.configure("set interfaces eth0 address 10.0.2.15/24", "set system description pc-keep")
	next := "next"
	urls := map[bool]string{
		false: b.serve("base.upd", updateFile(t, "qemu.upd")),
		true:  b.serve("next.upd", updateFile(t, "upgrade/qemu-next.upd")),
	}
	_, running := b.settle()
	outcomes := map[string]int{}
	for round := 1; round <= rounds; round++ {
		toNext := running == base
		// Three rounds in four cut while the command runs (transfer,
		// verify, slot write, boot-once); the others during the reboot,
		// the trial boot and its mark-good.
		cut := time.Duration(rng.Intn(15_000)) * time.Millisecond
		if rng.Intn(4) == 0 {
			cut = time.Duration(15_000+rng.Intn(60_000)) * time.Millisecond
		}
		mark := len(b.vm.Log())
		if err := b.vm.Type("request system upgrade " + urls[toNext]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cut)
		log := b.vm.Log()[mark:]
		b.kill() // the power cut
		phase := "before the write"
		switch {
		case strings.Contains(log, "firmware: healthy after"):
			phase = "after mark good"
		case bannerCount(log) > 0:
			phase = "during the trial boot"
		case strings.Contains(log, "installed; it becomes the default"):
			phase = "after the boot-once"
		case strings.Contains(log, "writing slot"):
			phase = "during the slot write"
		}
		outcomes[phase]++

		b.powerOn()
		slot, version := b.settle()
		if version != base && !strings.HasSuffix(version, "-"+next) {
			t.Fatalf("round %d: running version %q is neither %s nor the next one", round, version, base)
		}
		if out := b.run("show configuration"); !strings.Contains(out, "pc-keep") || !strings.Contains(out, "10.0.2.15/24") {
			t.Fatalf("round %d (cut %s, %s): config lost:\n%s", round, cut, phase, out)
		}
		t.Logf("round %d: cut after %s (%s): slot %s runs %s", round, cut, phase, slot, version)
		running = version
	}
	t.Logf("cuts by phase: %v", outcomes)
}

// bannerCount counts boots in a console log.
func bannerCount(log string) int { return len(bannerRe.FindAllStringIndex(log, -1)) }

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }
