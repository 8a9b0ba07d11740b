// Command flash writes an alixsec CF image to a card:
//
//	go run ./scripts/flash -image out/alix.img -dev /dev/sdX [-force]
//
// It refuses a device that is mounted (or has a mounted partition) and one
// larger than 64 GiB (CF cards are small; a bigger disk is most likely the
// wrong one) unless -force is given. After writing it syncs, drops the
// device's cached pages and reads everything back to compare.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxCardBytes is the largest device written without -force.
const maxCardBytes = 64 << 30

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "flash: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("flash", flag.ContinueOnError)
	image := fs.String("image", "", "CF image to write (out/BOARD.img)")
	dev := fs.String("dev", "", "target block device, e.g. /dev/sdX")
	force := fs.Bool("force", false, "write even to a device larger than 64 GiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *image == "" || *dev == "" {
		return errors.New("usage: flash -image out/alix.img -dev /dev/sdX [-force]")
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	target, err := checkTarget(*dev, string(mounts), *force)
	if err != nil {
		return err
	}
	sum, n, err := writeImage(*image, target)
	if err != nil {
		return err
	}
	if err := verify(target, n, sum); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "flash: wrote %s to %s (%d bytes), read back and verified sha256 %x\n", *image, target, n, sum)
	return nil
}

// checkTarget resolves dev and refuses what must not be overwritten.
func checkTarget(dev, mountTable string, force bool) (string, error) {
	resolved, err := filepath.EvalSymlinks(dev)
	if err != nil {
		return "", fmt.Errorf("target %s: %w", dev, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return "", fmt.Errorf("target %s: %w", dev, err)
	}
	isBlock := fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
	if !isBlock && !fi.Mode().IsRegular() {
		return "", fmt.Errorf("target %s is neither a block device nor a regular file", dev)
	}
	if m := mountedPart(resolved, mountTable); m != "" {
		return "", fmt.Errorf("target %s is in use: %s is mounted; unmount it first", dev, m)
	}
	size := fi.Size()
	if isBlock {
		if size, err = blockDeviceSize(resolved); err != nil {
			return "", err
		}
	}
	if size > maxCardBytes && !force {
		return "", fmt.Errorf("target %s is %d GiB, larger than any CF card for these boards: wrong device? (FORCE=1 to write anyway)", dev, size>>30)
	}
	return resolved, nil
}

// mountedPart returns the mount entry of dev or of one of its partitions
// (/dev/sdb1, /dev/mmcblk0p1), or "".
func mountedPart(dev, mountTable string) string {
	sc := bufio.NewScanner(strings.NewReader(mountTable))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		src := fields[0]
		if resolved, err := filepath.EvalSymlinks(src); err == nil {
			src = resolved
		}
		if src == dev {
			return fields[0] + " on " + fields[1]
		}
		rest, ok := strings.CutPrefix(src, dev)
		rest = strings.TrimPrefix(rest, "p")
		if ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return fields[0] + " on " + fields[1]
		}
	}
	return ""
}

func blockDeviceSize(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, fmt.Errorf("target %s: %w", dev, err)
	}
	defer f.Close()
	size, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKGETSIZE64)
	if err != nil {
		return 0, fmt.Errorf("target %s: size: %w", dev, err)
	}
	return int64(size), nil
}

// writeImage copies the image to the target, syncs it, and returns the
// image's sha256 and size.
func writeImage(image, target string) ([]byte, int64, error) {
	in, err := os.Open(image)
	if err != nil {
		return nil, 0, fmt.Errorf("image: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s for writing: %w", target, err)
	}
	h := sha256.New()
	n, err := io.Copy(out, io.TeeReader(in, h))
	if err != nil {
		out.Close()
		return nil, 0, fmt.Errorf("write %s: %w", target, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return nil, 0, fmt.Errorf("sync %s: %w", target, err)
	}
	// Drop cached pages so the read-back comes from the card.
	unix.Fadvise(int(out.Fd()), 0, 0, unix.FADV_DONTNEED)
	if err := out.Close(); err != nil {
		return nil, 0, fmt.Errorf("close %s: %w", target, err)
	}
	return h.Sum(nil), n, nil
}

// verify reads the first n bytes of target back and compares the hash.
func verify(target string, n int64, want []byte) error {
	f, err := os.Open(target)
	if err != nil {
		return fmt.Errorf("read back %s: %w", target, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil {
		return fmt.Errorf("read back %s: %w", target, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("read back %s: sha256 %x, wrote %x: the card is faulty or was removed", target, got, want)
	}
	return nil
}
