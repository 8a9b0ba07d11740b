package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// configLabel is the ext4 volume label the image builder gives the config
// partition.
const configLabel = "CONFIG"

// findConfigPartition returns the /dev path of the block device whose ext4
// superblock carries configLabel. There is no udev or blkid in the
// initramfs, so init reads the superblocks itself.
func findConfigPartition(sysBlock, dev string) (string, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", fmt.Errorf("list block devices: %w", err)
	}
	var seen []string
	for _, e := range entries {
		name := e.Name()
		if _, err := os.Stat(filepath.Join(sysBlock, name, "partition")); err != nil {
			continue // whole disks hold the MBR, not a file system
		}
		seen = append(seen, name)
		label, err := ext4Label(filepath.Join(dev, name))
		if err == nil && label == configLabel {
			return filepath.Join(dev, name), nil
		}
	}
	return "", fmt.Errorf("no ext4 partition labelled %s among %v", configLabel, seen)
}

// ext4Label reads the volume label from an ext2/3/4 superblock.
func ext4Label(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return "", fmt.Errorf("read superblock of %s: %w", path, err)
	}
	if magic := binary.LittleEndian.Uint16(sb[56:58]); magic != 0xEF53 {
		return "", fmt.Errorf("%s: no ext4 superblock", path)
	}
	return string(bytes.TrimRight(sb[120:136], "\x00")), nil
}

// mountConfig mounts the config partition on target. ext4 replays its
// journal on mount, which repairs a partition left dirty by a power cut;
// bbolt's own copy-on-write pages keep the last committed revision. If the
// file system is too damaged to mount read-write, it is mounted read-only
// so the last configuration still boots, and the error says so.
//
// sample is a regular file on the partition (the config database) to open
// once before the flush: ext4 records the mount point in its superblock on
// the first open of a file after mount, through the journal, and that
// write must happen now rather than when configsvc opens the file.
func mountConfig(device, target, sample string) (readOnly bool, err error) {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return false, err
	}
	// noatime: reading the config must never write to the card.
	const flags = unix.MS_NOATIME | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC
	rwErr := unix.Mount(device, target, "ext4", flags, "errors=remount-ro")
	if rwErr == nil {
		// Mounting dirties the superblock (mount count and time); flush it
		// now so the write happens at boot, not seconds into steady
		// running when the journal or writeback would get to it.
		if f, err := os.Open(sample); err == nil {
			f.Close()
		}
		return false, syncFS(target)
	}
	if roErr := unix.Mount(device, target, "ext4", flags|unix.MS_RDONLY, ""); roErr == nil {
		return true, fmt.Errorf("mount %s read-write: %w; mounted read-only, commits will fail until the card is repaired", device, rwErr)
	}
	return false, fmt.Errorf("mount %s on %s: %w", device, target, rwErr)
}

// isMounted reports whether target is a mount point.
func isMounted(target string) bool {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == target {
			return true
		}
	}
	return false
}

// syncFS flushes one file system's dirty data and metadata.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
