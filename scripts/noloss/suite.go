package noloss

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/qemu"
)

// Config says what Measure runs.
type Config struct {
	Image  string       // out/qemu.img
	PKI    *interop.PKI // hosts moon and sun
	Dir    string       // scratch: the boards' disks
	Logf   func(string, ...any)
	Events []Event       // nil: Events()
	Quiet  time.Duration // the baseline window without events; 0: 10 s
	Churn  int           // random commits; 0: 300
}

// Figures is everything Measure saw.
type Figures struct {
	FirstBoot time.Duration // QEMU start of both to both CLI prompts, fresh cards
	Modes     []*Result     // transport, then tunnel

	// Reboot of moon (sun pinging it every 10 ms): seconds from moon's
	// kernel start until sun's pings pass again.
	RebootToPings float64
	// Power-on of both boards (configured cards) to the first ping that
	// passes with both SAs up (polled about once a second).
	PowerOnToPing time.Duration

	ChurnCommits   int           // commits the churn made (revision difference)
	ChurnTook      time.Duration // the churn's commits, all of them
	ChurnToSAs     time.Duration // the real config's commit until both boards show the SA
	KernelLeftover []string      // differences of both kernels from the expected SAs and policies
}

// The peers of the two phases; the tunnel one is also the real config of
// the reboot, power-on and churn parts.
var (
	TransportPeer = Peer{Name: "t4", Mode: "transport"}
	TunnelPeer    = Peer{Name: "n4", Mode: "tunnel"}
)

// Measure boots moon and sun once and goes through the whole issue-9
// sequence: the events in transport mode, then in tunnel mode, a reboot
// of moon, a power cut and power-on of both, and the config churn on moon
// followed by the real config. It returns what it measured so far with
// the first error, and the pair (stopped by the caller) for its logs.
func Measure(cfg Config) (*Figures, *Pair, error) {
	if cfg.Events == nil {
		cfg.Events = Events()
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 10 * time.Second
	}
	if cfg.Churn == 0 {
		cfg.Churn = 300
	}
	sunID := cfg.PKI.Hosts[interop.HostSun].ID
	// The churn's commands and the real configuration reach moon as two
	// extra disks (raw text, padded with newlines): faster than typing
	// 300 commits, and the same CLI reads them.
	// load takes set lines only: the whole config, so BaseLines' delete
	// of the factory address is not needed there.
	var real []string
	for _, l := range append(BaseLines(cfg.PKI, interop.HostMoon, Moon4, Moon6), TunnelPeer.Lines(Moon4, Sun4, sunID, true)...) {
		if strings.HasPrefix(l, "set ") {
			real = append(real, l)
		}
	}
	churnDisk := filepath.Join(cfg.Dir, "churn.txt")
	realDisk := filepath.Join(cfg.Dir, "real.txt")
	if err := writeTextDisk(churnDisk, Churn(9, cfg.Churn, TunnelPeer, Moon4, Sun4)); err != nil {
		return nil, nil, err
	}
	if err := writeTextDisk(realDisk, real); err != nil {
		return nil, nil, err
	}
	pair, err := NewPair(cfg.Image, cfg.Dir, map[string][]string{"moon": {
		"-drive", "file=" + churnDisk + ",format=raw,if=ide,index=1,snapshot=on",
		"-drive", "file=" + realDisk + ",format=raw,if=ide,index=2,snapshot=on",
	}})
	if err != nil {
		return nil, nil, err
	}
	f := &Figures{}
	err = measure(cfg, pair, f, sunID)
	return f, pair, err
}

func measure(cfg Config, pair *Pair, f *Figures, sunID string) error {
	moon, sun := pair.Moon, pair.Sun
	start := time.Now()
	if err := pair.PowerOnChecked(cfg.Logf); err != nil {
		return err
	}
	f.FirstBoot = time.Since(start)
	cfg.Logf("both boards booted in %v", f.FirstBoot.Round(100*time.Millisecond))
	base := map[*qemu.Board][]string{
		moon: BaseLines(cfg.PKI, interop.HostMoon, Moon4, Moon6),
		sun:  BaseLines(cfg.PKI, interop.HostSun, Sun4, Sun6),
	}
	if err := qemu.Each(pair.Boards(), func(b *qemu.Board) error { return b.Configure("addresses-and-pki", base[b]) }); err != nil {
		return err
	}
	// Transport mode: the responder first, so that moon's start finds it.
	tp := TransportPeer
	if err := sun.Configure(tp.Name, tp.Lines(Sun4, Moon4, "", false)); err != nil {
		return err
	}
	if err := moon.Configure(tp.Name, tp.Lines(Moon4, Sun4, sunID, true)); err != nil {
		return err
	}
	for _, b := range pair.Boards() {
		if _, err := b.WaitSA(tp.Name+" established", qemu.SATimeout, qemu.Established(tp.Name, tp.Mode).MatchString); err != nil {
			return err
		}
	}
	shells, err := enterShells(pair)
	if err != nil {
		return err
	}
	res, err := Run(shells[0], shells[1], tp, Sun4, cfg.Events, cfg.Quiet, cfg.Logf)
	if res != nil {
		f.Modes = append(f.Modes, res)
	}
	if err != nil {
		return fmt.Errorf("transport mode: %w", err)
	}

	// Tunnel mode between the same hosts.
	np := TunnelPeer
	for i, s := range shells {
		local, remote, id := Moon4, Sun4, sunID
		if i == 1 {
			local, remote, id = Sun4, Moon4, ""
		}
		lines := append([]string{"configure", "delete ipsec peer " + tp.Name}, np.Lines(local, remote, id, i == 0)...)
		if _, err := s.CLI(append(lines, "commit "+np.Name, "exit")...); err != nil {
			return err
		}
	}
	if err := WaitEstablished(shells, np, qemu.SATimeout); err != nil {
		return err
	}
	// The transport pass's quiet window showed the emulator loses nothing;
	// half of it will do here.
	res, err = Run(shells[0], shells[1], np, Sun4, cfg.Events, cfg.Quiet/2, cfg.Logf)
	if res != nil {
		f.Modes = append(f.Modes, res)
	}
	if err != nil {
		return fmt.Errorf("tunnel mode: %w", err)
	}

	if f.RebootToPings, err = rebootMoon(pair, shells, np, cfg.Logf); err != nil {
		return fmt.Errorf("reboot of moon: %w", err)
	}
	cfg.Logf("reboot of moon: pings pass again %.2f s after its kernel started", f.RebootToPings)

	if f.PowerOnToPing, err = powerOn(pair, np); err != nil {
		return fmt.Errorf("power-on: %w", err)
	}
	cfg.Logf("power-on of both boards to the first protected ping: %v", f.PowerOnToPing.Round(100*time.Millisecond))

	return churn(cfg, pair, f, np)
}

func enterShells(pair *Pair) ([]*Shell, error) {
	var shells []*Shell
	for _, b := range pair.Boards() {
		s, err := EnterShell(b)
		if err != nil {
			return nil, err
		}
		shells = append(shells, s)
	}
	return shells, nil
}

// rebootMoon reboots moon while sun pings it every 10 ms and returns the
// seconds from moon's kernel start until the pings pass again.
func rebootMoon(pair *Pair, shells []*Shell, pe Peer, logf func(string, ...any)) (float64, error) {
	sun := shells[1]
	pinger, err := StartPinger(sun, Moon4, PingInterval, "/tmp/ping-reboot.log")
	if err != nil {
		return 0, err
	}
	time.Sleep(2 * time.Second)
	before, err := sun.Uptime()
	if err != nil {
		return 0, err
	}
	// The CLI's reboot; the shell does not come back.
	if err := pair.Moon.VM.Type("echo reboot | /bbin/cli"); err != nil {
		return 0, err
	}
	if _, err := pair.Moon.VM.Expect(bannerRe, qemu.BootTimeout); err != nil {
		return 0, fmt.Errorf("moon did not boot again: %w", err)
	}
	if err := pair.Moon.WaitBoot(); err != nil {
		return 0, err
	}
	moon, err := EnterShell(pair.Moon)
	if err != nil {
		return 0, err
	}
	shells[0] = moon
	// Moon's kernel start on sun's clock: both uptimes read at once.
	var ups [2]float64
	errs := make(chan error, 2)
	for i, s := range shells {
		go func() {
			var err error
			ups[i], err = s.Uptime()
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	kernelStart := ups[1] - ups[0]
	r := &run{shells: map[string]*Shell{"moon": moon, "sun": sun}, peer: pe, target: Sun4, logf: logf, last: map[string]string{}}
	if _, err := r.settleOrHeal(); err != nil {
		return 0, err
	}
	pl, out, err := pinger.Stop()
	if err != nil {
		return 0, err
	}
	logf("reboot: ping log of sun (moon's kernel started at sun's uptime %.2f s):\n%s", kernelStart, out)
	// Where moon's boot spent the time: its services' log (uptime stamps).
	if boot, err := moon.CLI("show log"); err == nil {
		logf("reboot: moon's log after the boot:\n%s", boot)
	}
	passAgain := before
	for _, l := range pl.Losses {
		if end := l.Uptime + float64(l.Lost())*PingInterval.Seconds(); l.Uptime >= before && end > passAgain {
			passAgain = end
		}
	}
	if passAgain == before {
		return 0, errors.New("sun's pings lost nothing while moon rebooted: did it reboot?")
	}
	return passAgain - kernelStart, nil
}

// powerOn cuts both boards' power, powers them on and measures until
// moon shows the SA and a ping to sun passes.
func powerOn(pair *Pair, pe Peer) (time.Duration, error) {
	start := time.Now()
	if err := pair.PowerOn(); err != nil {
		return 0, err
	}
	re := qemu.Established(pe.Name, pe.Mode)
	for deadline := time.Now().Add(qemu.SATimeout); time.Now().Before(deadline); {
		show, err := pair.Moon.Run("show ipsec sa")
		if err == nil && re.MatchString(show) {
			if got, _, _ := pair.Moon.Ping(Sun4.String(), 1); got == 1 {
				return time.Since(start), nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, fmt.Errorf("no protected ping within %v", qemu.SATimeout)
}

// churn makes the random commits on moon, then commits the real config
// and checks both boards' kernels.
func churn(cfg Config, pair *Pair, f *Figures, pe Peer) error {
	shells, err := enterShells(pair)
	if err != nil {
		return err
	}
	moon := shells[0]
	rev := func() (int, error) {
		out, err := moon.CLI("show system")
		if err != nil {
			return 0, err
		}
		var n int
		if i := strings.Index(out, "revision:"); i >= 0 {
			fmt.Sscanf(out[i+len("revision:"):], "%d", &n)
		}
		if n == 0 {
			return 0, fmt.Errorf("no revision in show system:\n%s", out)
		}
		return n, nil
	}
	before, err := rev()
	if err != nil {
		return err
	}
	start := time.Now()
	moon.Timeout = 15 * time.Minute
	_, err = moon.Run("/bbin/cli < /dev/sdb > /tmp/churn.out 2>&1")
	moon.Timeout = qemu.CommandTimeout
	if err != nil {
		return err
	}
	f.ChurnTook = time.Since(start)
	after, err := rev()
	if err != nil {
		return err
	}
	f.ChurnCommits = after - before
	cfg.Logf("churn: %d commits in %v", f.ChurnCommits, f.ChurnTook.Round(100*time.Millisecond))
	if f.ChurnCommits != cfg.Churn {
		out, _ := moon.Run("cat /tmp/churn.out")
		return fmt.Errorf("churn made %d commits, want %d; the CLI said:\n%s", f.ChurnCommits, cfg.Churn, out)
	}
	if _, err := moon.CLI("configure", "load /dev/sdc", "commit real", "exit"); err != nil {
		return err
	}
	committed := time.Now()
	if err := WaitEstablished(shells, pe, qemu.SATimeout); err != nil {
		return err
	}
	f.ChurnToSAs = time.Since(committed)
	cfg.Logf("churn: the real config's SAs up %v after its commit", f.ChurnToSAs.Round(100*time.Millisecond))
	// Let the last deletions reach the kernel, then compare.
	time.Sleep(3 * time.Second)
	for i, s := range shells {
		local, remote := Moon4, Sun4
		if i == 1 {
			local, remote = Sun4, Moon4
		}
		diffs, err := kernelDiff(s, pe, local, remote)
		if err != nil {
			return err
		}
		for _, d := range diffs {
			f.KernelLeftover = append(f.KernelLeftover, s.B.Name+": "+d)
		}
	}
	return nil
}

// kernelDiff compares a board's XFRM SAs and policies with the one
// CHILD_SA its `show ipsec sa` lists for pe.
func kernelDiff(s *Shell, pe Peer, local, remote netip.Addr) ([]string, error) {
	show, err := s.CLI("show ipsec sa")
	if err != nil {
		return nil, err
	}
	in, out := childSPIs.FindAllStringSubmatch(show, -1), outSPIs.FindAllStringSubmatch(show, -1)
	if len(in) != 1 || len(out) != 1 {
		return nil, fmt.Errorf("board %s: want one CHILD_SA in show ipsec sa:\n%s", s.B.Name, show)
	}
	wantStates, wantPolicies := ExpectedXfrm(local.String(), remote.String(), pe.Mode, in[0][1], out[0][1])
	var diffs []string
	dump, err := s.CLI("show ipsec kernel")
	if err != nil {
		return nil, err
	}
	got, err := ParseXfrm(dump)
	if err != nil {
		return nil, fmt.Errorf("board %s: show ipsec kernel: %w", s.B.Name, err)
	}
	want := append(wantStates, wantPolicies...)
	sort.Slice(want, func(i, j int) bool { return want[i].String() < want[j].String() })
	diffs = append(diffs, DiffXfrm(got, want)...)
	return diffs, nil
}

// bannerRe is init's line at every boot.
var bannerRe = regexp.MustCompile(`init: banner at ([0-9.]+) s after kernel start`)

var outSPIs = regexp.MustCompile(`(?m)^    out ([0-9a-f]{8})  `)

// writeTextDisk writes lines as a raw disk image: the text, then newlines
// up to a whole number of 512-byte sectors (blank lines are no-ops to
// the CLI and to load).
func writeTextDisk(path string, lines []string) error {
	text := strings.Join(lines, "\n") + "\n"
	if pad := len(text) % 512; pad != 0 {
		text += strings.Repeat("\n", 512-pad)
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
