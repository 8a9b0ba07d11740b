// Command bench measures the built firmware and prints a table: sizes of
// the kernel, initramfs and CF image, seconds from kernel start to the
// banner in QEMU (median of 5 boots) and MemFree after boot at -m 64.
//
//	go run ./scripts/bench -out out
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"alixsec.dev/scripts/qemu"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// row is one line of the result table.
type row struct {
	what, value, goal string
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "out", "directory with the built images")
	boots := fs.Int("boots", 5, "boots for the boot-time median")
	board := fs.String("board", "alix", "image to boot")
	noLoss := fs.Bool("noloss", true, "run the no-loss sequence on two QEMU boards (about 10 minutes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rows []row
	sizes, err := sizeRows(*out)
	if err != nil {
		return err
	}
	rows = append(rows, sizes...)
	bootRows, err := bootRows(filepath.Join(*out, *board+".img"), *boots)
	if err != nil {
		return err
	}
	rows = append(rows, bootRows...)
	cfRows, err := cfWriteRows(filepath.Join(*out, "qemu.img"))
	if err != nil {
		return err
	}
	rows = append(rows, cfRows...)
	upRows, err := upgradeRows(*out)
	if err != nil {
		return err
	}
	rows = append(rows, upRows...)
	if *noLoss {
		lossRows, err := nolossRows(*out, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
		if err != nil {
			return err
		}
		rows = append(rows, lossRows...)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\tgoal")
	fmt.Fprintln(tw, "-------\t-----\t----")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.what, r.value, r.goal)
	}
	return tw.Flush()
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("built artifact: %w (run `make images` first)", err)
	}
	return fi.Size(), nil
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func sizeRows(out string) ([]row, error) {
	kernel, err := fileSize(filepath.Join(out, "bzImage"))
	if err != nil {
		return nil, err
	}
	initrd, err := fileSize(filepath.Join(out, "initramfs.zst"))
	if err != nil {
		return nil, err
	}
	img, err := fileSize(filepath.Join(out, "alix.img"))
	if err != nil {
		return nil, err
	}
	firmware := kernel + initrd
	verdict := "ok"
	if firmware > 6<<20 {
		verdict = "OVER"
	}
	return []row{
		{"kernel (bzImage)", mib(kernel), ""},
		{"initramfs (zstd)", mib(initrd), ""},
		{"kernel + initramfs", mib(firmware), "<= 6 MiB: " + verdict},
		{"CF image (2 slots + config)", mib(img), ""},
	}, nil
}

var (
	bannerRe  = regexp.MustCompile(`init: banner at ([0-9.]+) s after kernel start`)
	memFreeRe = regexp.MustCompile(`MemFree:\s+(\d+) kB`)
	memTotRe  = regexp.MustCompile(`MemTotal:\s+(\d+) kB`)
)

// bootRows boots the image n times and reports the median time from
// kernel start to the banner (as init measures it from CLOCK_BOOTTIME),
// the median wall time from QEMU start to the banner, and MemFree after
// the last boot.
func bootRows(image string, n int) ([]row, error) {
	var guest, wall []float64
	var memFree, memTotal string
	for i := 0; i < n; i++ {
		g, w, free, total, err := bootOnce(image, i == n-1)
		if err != nil {
			return nil, fmt.Errorf("boot %d: %w", i+1, err)
		}
		guest = append(guest, g)
		wall = append(wall, w)
		if free != "" {
			memFree, memTotal = free, total
		}
	}
	med := median(guest)
	verdict := "ok"
	if med > 3 {
		verdict = "OVER"
	}
	return []row{
		{fmt.Sprintf("kernel start -> banner (median of %d)", n), fmt.Sprintf("%.2f s", med), "<= 3 s: " + verdict},
		{fmt.Sprintf("QEMU start -> banner, TCG (median of %d)", n), fmt.Sprintf("%.2f s", median(wall)), ""},
		{"MemFree after boot (-m 64)", memFree + " kB", "MemTotal " + memTotal + " kB"},
	}, nil
}

func bootOnce(image string, readMem bool) (guest, wall float64, memFree, memTotal string, err error) {
	const timeout = 120 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*timeout)
	defer cancel()
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{Image: image, Snapshot: true, NoReboot: true})
	if err != nil {
		return 0, 0, "", "", err
	}
	defer vm.Stop()
	m, err := vm.Expect(bannerRe, timeout)
	if err != nil {
		return 0, 0, "", "", fmt.Errorf("%w\nconsole:\n%s", err, qemu.Tail(vm.Log(), 40))
	}
	wall = time.Since(start).Seconds()
	guest, err = strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, 0, "", "", fmt.Errorf("banner time %q: %w", m[1], err)
	}
	if !readMem {
		return guest, wall, "", "", nil
	}
	if _, err := vm.Expect(qemu.CLIPrompt, timeout); err != nil {
		return 0, 0, "", "", fmt.Errorf("CLI prompt: %w", err)
	}
	// Let boot-time work settle before reading memory.
	time.Sleep(3 * time.Second)
	if _, err := vm.Command("start shell", timeout); err != nil {
		return 0, 0, "", "", err
	}
	if err := vm.Type("cat /proc/meminfo"); err != nil {
		return 0, 0, "", "", err
	}
	tot, err := vm.Expect(memTotRe, timeout)
	if err != nil {
		return 0, 0, "", "", err
	}
	free, err := vm.Expect(memFreeRe, timeout)
	if err != nil {
		return 0, 0, "", "", err
	}
	return guest, wall, free[1], tot[1], nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cfWriteRows boots the QEMU board and measures what reaches the CF card:
// sectors written during 30 s of idle running, and the bytes one commit
// writes (bbolt's fsync'd transaction plus the ext4 journal), read from
// /sys/block/sda/stat through the CLI's show system.
func cfWriteRows(image string) ([]row, error) {
	const timeout = 120 * time.Second
	// A writable copy, booted twice: the first boot of a new card writes
	// the default config (a commit); the field runs on later boots.
	disk, err := os.CreateTemp("", "alixsec-bench-*.img")
	if err != nil {
		return nil, err
	}
	disk.Close()
	defer os.Remove(disk.Name())
	if err := copyFile(image, disk.Name()); err != nil {
		return nil, err
	}
	boot := func(ctx context.Context) (*qemu.VM, error) {
		vm, err := qemu.Start(ctx, qemu.Config{Image: disk.Name(), NoReboot: true,
			Extra: []string{"-netdev", "user,id=lan,restrict=on", "-device", "e1000,netdev=lan"}})
		if err != nil {
			return nil, err
		}
		if _, err := vm.Expect(qemu.CLIPrompt, timeout); err != nil {
			vm.Stop()
			return nil, fmt.Errorf("CLI prompt: %w\nconsole:\n%s", err, qemu.Tail(vm.Log(), 40))
		}
		return vm, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*timeout)
	defer cancel()
	first, err := boot(ctx)
	if err != nil {
		return nil, err
	}
	if err := first.Type("reboot"); err != nil {
		return nil, err
	}
	if err := first.Wait(timeout); err != nil {
		return nil, fmt.Errorf("reboot: %w", err)
	}
	vm, err := boot(ctx)
	if err != nil {
		return nil, err
	}
	defer vm.Stop()
	time.Sleep(5 * time.Second) // boot-time work
	idle0, err := vm.SectorsWritten(timeout)
	if err != nil {
		return nil, err
	}
	time.Sleep(30 * time.Second)
	idle1, err := vm.SectorsWritten(timeout)
	if err != nil {
		return nil, err
	}
	var perCommit []float64
	for i := 0; i < 3; i++ {
		before, err := vm.SectorsWritten(timeout)
		if err != nil {
			return nil, err
		}
		for _, line := range []string{"configure", fmt.Sprintf("set system description bench-%d", i), "commit bench", "exit"} {
			if _, err := vm.Command(line, timeout); err != nil {
				return nil, err
			}
		}
		// Count everything the commit causes: ext4 commits its journal
		// within 5 s of the fsync and writes back the inode's times
		// within 30 s.
		time.Sleep(35 * time.Second)
		after, err := vm.SectorsWritten(timeout)
		if err != nil {
			return nil, err
		}
		perCommit = append(perCommit, float64(after-before)*512)
	}
	return []row{
		{"CF sectors written, 30 s idle", fmt.Sprint(idle1 - idle0), "0"},
		{"CF bytes written per commit (median of 3)", fmt.Sprintf("%.0f B", median(perCommit)), "written only on commit"},
	}, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
