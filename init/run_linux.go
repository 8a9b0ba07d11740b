package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"alixsec.dev/board"
	"alixsec.dev/configsvc/api"
	"alixsec.dev/firmware/ab"
	"alixsec.dev/init/fdstore"
	"alixsec.dev/init/netconf"
)

// Paths init owns.
const (
	versionFile  = "/etc/alixsec-version" // written by the image builder
	cfgDir       = "/cfg"                 // config partition mount point
	configDB     = cfgDir + "/config.db"  // configsvc's bbolt file
	logSocket    = "/run/log.sock"
	ikesvcSocket = "/run/ikesvc.sock"
	// ikesvcState is ikesvc's SA state across its restarts: on /run, a
	// tmpfs, so in RAM (a reboot loses it with the kernel's SAs).
	ikesvcState = "/run/ikesvc.state"
)

// run is the boot sequence. It returns only on a fatal error.
func run(console *log.Logger) error {
	if os.Getpid() != 1 {
		return fmt.Errorf("must run as PID 1, not PID %d", os.Getpid())
	}
	for _, c := range rootfs() {
		if err := c.Create(); err != nil {
			// A missing optional file system must not stop the boot: the
			// console still comes up so an admin can look.
			console.Printf("rootfs: %s: %v", c, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		console.Printf("read kernel command line: %v", err)
	}
	b, err := board.Lookup(cmdlineValue(string(cmdline), "alixsec.board"))
	if err != nil {
		console.Printf("%v; using qemu defaults", err)
		b, _ = board.Lookup("qemu")
	}
	tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open console: %w", err)
	}
	fmt.Fprintf(tty, "\r\nalixsec %s board=%s slot=%s\r\n", readVersion(), b.Name, cmdlineValue(string(cmdline), "alixsec.slot"))
	if up, err := uptime(); err == nil {
		fmt.Fprintf(tty, "init: banner at %.3f s after kernel start\r\n", up.Seconds())
	}

	// From here on init logs to the RAM ring (show log); only problems an
	// admin must see at once also go to the console.
	logs := newLogRing(2000, time.Now)
	logger := log.New(logs.writer("init"), "", 0)
	// At once: the kernel gathers entropy only while someone waits.
	go awaitEntropy(logger, uptime)
	// The ring names the source itself; only the console copy needs "init: ".
	warn := log.New(io.MultiWriter(logs.writer("init"), prefixWriter{"init: ", crlfWriter{tty}}), "", 0)
	if err := logs.listenLogSocket(logSocket); err != nil {
		warn.Printf("%v", err)
	}
	if err := setLED(b.PowerLED, true); err != nil {
		logger.Printf("%v", err)
	}
	if err := applySysctls("/proc/sys", bootSysctls); err != nil {
		warn.Printf("%v", err)
	}

	ctx, stop := context.WithCancel(context.Background())
	reaper := newReaper(logger)
	go reaper.loop()
	sup := &supervisor{logger: logger, reaper: reaper, logs: logs.writer}

	if err := upLoopback(logger); err != nil {
		warn.Printf("%v", err)
	}
	var services []*service
	// Armed before anything that could hang, so a firmware on trial that
	// hangs is reset; petted (below) only while the services run.
	wd := &watchdog{logger: logger, device: b.Watchdog, interval: 10 * time.Second, healthy: func() bool {
		for _, svc := range services {
			if !svc.running() {
				return false
			}
		}
		return true
	}}
	wd.arm()
	var trial *ab.Trial
	var follower *configFollower
	if fileExists("/bbin/configsvc") {
		if err := mountConfigPartition(logger); err != nil {
			warn.Printf("config partition: %v", err)
		}
		trial = checkFirmwareAtBoot(logger, warn)
		switch buildVariant {
		case "init-exits":
			stop()
			return fmt.Errorf("test build %q: init exits on purpose", buildVariant)
		case "hangs":
			warn.Printf("test build %q: init hangs on purpose", buildVariant)
			for {
				// Sleeping, not select{}: the runtime must not see a
				// deadlock and exit; only the watchdog may end this.
				time.Sleep(time.Hour)
			}
		}
		services = append(services, configsvcService(configDB, b.Name))
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			warn.Printf("netlink: %v", err)
		} else {
			clock := newClockKeeper(logger)
			go clock.run(ctx)
			f := &configFollower{logger: logger, socket: api.DefaultSocket, net: netconf.New(h, logger.Printf), logs: logs, clock: clock}
			follower = f
			go f.run(ctx)
		}
	}
	if fileExists("/bbin/ikesvc") {
		// The fd store keeps ikesvc's IKE sockets open while it is down:
		// ESP in UDP (NAT-T) is decapsulated and IKE queued meanwhile.
		services = append(services, &service{name: "ikesvc", env: serviceEnv(), fds: &fdstore.Store{},
			argv: []string{"/bbin/ikesvc", "-configsvc", api.DefaultSocket, "-kernel", "netlink", "-control", ikesvcSocket, "-state", ikesvcState}})
	}
	if fileExists(sshdBinary) {
		services = append(services, sshdService())
	}
	for _, svc := range services {
		go sup.run(ctx, svc)
	}
	go wd.run(ctx)
	led := &tunnelLED{logger: logger, led: b.TunnelLED, socket: ikesvcSocket, interval: 5 * time.Second}
	go led.run(ctx)

	power := &powerControl{logger: warn, stopServices: func() {
		stop()
		time.Sleep(time.Second)
	}}
	go power.watchSignals()
	if trial != nil && follower != nil {
		tc := &trialCheck{logger: logger, warn: warn, services: services, follower: follower, ikeSocket: ikesvcSocket, interval: 3 * time.Second,
			reboot: func() { power.shutdown(unix.LINUX_REBOOT_CMD_RESTART, "reboot") }}
		go tc.run(ctx)
	}

	consoleArgv := []string{"/bin/sh"}
	if fileExists("/bbin/cli") {
		consoleArgv = []string{"/bbin/cli", "-socket", api.DefaultSocket, "-log-socket", logSocket}
	}
	if fileExists(sshdBinary) {
		showHostKey(tty, api.DefaultSocket, 10*time.Second)
	}
	shell := &consoleShell{
		logger:  logger,
		reaper:  reaper,
		tty:     "/dev/ttyS0",
		argv:    consoleArgv,
		env:     append(serviceEnv(), "TERM=vt100"),
		backoff: time.Second,
	}
	shell.run()
	return nil
}

// mountConfigPartition finds and mounts the CF config partition on cfgDir.
func mountConfigPartition(logger *log.Logger) error {
	dev, err := findConfigPartition("/sys/class/block", "/dev")
	if err != nil {
		return err
	}
	ro, err := mountConfig(dev, cfgDir, configDB)
	if err != nil && !ro {
		return err
	}
	logger.Printf("config partition %s mounted on %s (read-only: %v)", dev, cfgDir, ro)
	return err
}

// prefixWriter puts prefix before each Write (a log.Logger writes one
// line per call).
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// crlfWriter turns \n into \r\n for a raw serial console.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(p []byte) (int, error) {
	if _, err := c.w.Write([]byte(strings.ReplaceAll(string(p), "\n", "\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func readVersion() string {
	v, err := os.ReadFile(versionFile)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(v))
}

// cmdlineValue returns the value of key=value on the kernel command line,
// or "" when the key is absent.
func cmdlineValue(cmdline, key string) string {
	for _, f := range strings.Fields(cmdline) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// uptime is the time since the kernel started, from /proc/uptime.
func uptime() (time.Duration, error) {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	var secs float64
	if _, err := fmt.Sscanf(string(data), "%f", &secs); err != nil {
		return 0, fmt.Errorf("parse /proc/uptime %q: %w", data, err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
