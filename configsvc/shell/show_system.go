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
	return nil
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
