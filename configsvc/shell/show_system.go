package shell

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func (sh *Shell) showSystem(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(sh.out, "hostname:  %s\n", snap.Config.System.Hostname)
	if up, err := readUptime(sh.env.ProcRoot); err == nil {
		fmt.Fprintf(sh.out, "uptime:    %s\n", up)
	} else {
		fmt.Fprintf(sh.out, "uptime:    unknown (%v)\n", err)
	}
	if total, avail, err := readMeminfo(sh.env.ProcRoot); err == nil {
		fmt.Fprintf(sh.out, "memory:    %d MiB total, %d MiB available\n", total/1024, avail/1024)
	} else {
		fmt.Fprintf(sh.out, "memory:    unknown (%v)\n", err)
	}
	if b, err := os.ReadFile(filepath.Join(sh.env.ProcRoot, "loadavg")); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			fmt.Fprintf(sh.out, "load:      %s %s %s\n", f[0], f[1], f[2])
		}
	}
	fmt.Fprintf(sh.out, "revision:  %d, committed %s%s\n", snap.Revision, snap.Time.UTC().Format("2006-01-02 15:04:05 UTC"), commentSuffix(snap.Comment))
	for _, d := range readDiskWrites(sh.env.SysRoot) {
		fmt.Fprintf(sh.out, "disk %s: %d sectors written since boot\n", d.name, d.sectorsWritten)
	}
	sh.showSSHStatus(snap.Config)
	return nil
}

type diskWrites struct {
	name           string
	sectorsWritten uint64
}

// readDiskWrites reads field 7 (sectors written) of each disk's
// /sys/block/NAME/stat: the admin, and the CF wear test, can see that
// nothing writes to the card in normal running.
func readDiskWrites(sys string) []diskWrites {
	if sys == "" {
		sys = "/sys"
	}
	entries, err := os.ReadDir(filepath.Join(sys, "block"))
	if err != nil {
		return nil
	}
	var out []diskWrites
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sys, "block", name, "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 7 {
			continue
		}
		n, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, diskWrites{name: name, sectorsWritten: n})
	}
	return out
}

func readUptime(proc string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(proc, "uptime"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("empty uptime")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime %q: %w", f[0], err)
	}
	return time.Duration(secs) * time.Second, nil
}

// readMeminfo returns MemTotal and MemAvailable in KiB.
func readMeminfo(proc string) (total, avail uint64, err error) {
	b, err := os.ReadFile(filepath.Join(proc, "meminfo"))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			total = n
		case "MemAvailable:":
			avail = n
		}
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("no MemTotal in meminfo")
	}
	return total, avail, nil
}

func (sh *Shell) showVersion(args []string) error {
	v := sh.env.Version
	if v == "" {
		v = "unknown"
	}
	fmt.Fprintf(sh.out, "alixsec %s (%s %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
