package ab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"alixsec.dev/firmware/bootpart"
	"alixsec.dev/firmware/updfile"
)

// Where things are on a running board.
const (
	BootLabel        = "ALIXSEC" // the boot partition's FAT volume label (image builder)
	DefaultStatePath = "/cfg/firmware.json"
	versionFile      = "/etc/alixsec-version"
)

// OnBoard opens the running board's boot partition (found by its FAT
// label among the block devices, as init finds the config partition) and
// returns its Manager; close releases the device.
func OnBoard(statePath string) (m *Manager, closeFn func() error, err error) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, nil, fmt.Errorf("firmware: %w", err)
	}
	slot := cmdlineValue(string(cmdline), "alixsec.slot")
	if slot != "a" && slot != "b" {
		return nil, nil, fmt.Errorf("firmware: kernel command line has no alixsec.slot=a|b (booted outside the slots?)")
	}
	dev, err := FindBootPartition("/sys/class/block", "/dev")
	if err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("firmware: %w", err)
	}
	boot, err := bootpart.Open(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("firmware: %s: %w", dev, err)
	}
	version := "unknown"
	if v, err := os.ReadFile(versionFile); err == nil {
		version = strings.TrimSpace(string(v))
	}
	return &Manager{Boot: boot, StatePath: statePath, Board: cmdlineValue(string(cmdline), "alixsec.board"), Slot: slot, Version: version, device: dev}, f.Close, nil
}

// FindBootPartition returns the /dev path of the partition whose FAT16
// boot sector carries BootLabel.
func FindBootPartition(sysBlock, dev string) (string, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", fmt.Errorf("list block devices: %w", err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(sysBlock, e.Name(), "partition")); err != nil {
			continue
		}
		p := filepath.Join(dev, e.Name())
		if fatLabel(p) == BootLabel {
			return p, nil
		}
	}
	return "", fmt.Errorf("firmware: no FAT16 partition labelled %s", BootLabel)
}

func fatLabel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	bs := make([]byte, 512)
	if _, err := f.ReadAt(bs, 0); err != nil || string(bs[54:59]) != "FAT16" {
		return ""
	}
	return string(bytes.TrimRight(bs[43:54], " "))
}

func cmdlineValue(cmdline, key string) string {
	for _, f := range strings.Fields(cmdline) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// BoardFirmware is the running board's firmware as the CLI uses it: each
// call opens the boot partition afresh (the CLI is a short-lived process
// beside init, which may be marking a trial good).
type BoardFirmware struct {
	StatePath    string // DefaultStatePath when empty
	BakedKeyPath string // updfile.BakedKeyPath when empty
}

func (b BoardFirmware) open() (*Manager, func() error, error) {
	p := b.StatePath
	if p == "" {
		p = DefaultStatePath
	}
	return OnBoard(p)
}

// TrustedKeys returns the key baked into this firmware and extra.
func (b BoardFirmware) TrustedKeys(extra []updfile.PublicKey) ([]updfile.PublicKey, error) {
	p := b.BakedKeyPath
	if p == "" {
		p = updfile.BakedKeyPath
	}
	var keys []updfile.PublicKey
	if data, err := os.ReadFile(p); err == nil {
		k, err := updfile.ParsePublicKey(string(data))
		if err != nil {
			return nil, fmt.Errorf("firmware: baked update key %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return append(keys, extra...), nil
}

// Upgrade verifies and installs an update from r; it returns the new
// version. The caller reboots.
func (b BoardFirmware) Upgrade(ctx context.Context, r io.Reader, extra []updfile.PublicKey, progress io.Writer) (string, error) {
	keys, err := b.TrustedKeys(extra)
	if err != nil {
		return "", err
	}
	m, closeFn, err := b.open()
	if err != nil {
		return "", err
	}
	defer closeFn()
	before := DiskSectorsWritten(m.device)
	u, err := m.Upgrade(ctx, r, keys, progress)
	if err != nil {
		return "", err
	}
	if after := DiskSectorsWritten(m.device); before >= 0 && after >= before {
		fmt.Fprintf(progress, "CF writes of this upgrade: %d sectors (%d KiB)\n", after-before, (after-before)/2)
	}
	return u.Version, nil
}

// DiskSectorsWritten is field 7 of the stat of the disk holding the
// partition dev (/dev/sda1 → /sys/class/block/sda1/../stat), or -1.
func DiskSectorsWritten(dev string) int64 {
	if dev == "" {
		return -1
	}
	part, err := filepath.EvalSymlinks(filepath.Join("/sys/class/block", filepath.Base(dev)))
	if err != nil {
		return -1
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(part), "stat"))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(data))
	if len(f) < 7 {
		return -1
	}
	var n int64
	if _, err := fmt.Sscan(f[6], &n); err != nil {
		return -1
	}
	return n
}

// Rollback arms a trial of the other slot and returns its label.
func (b BoardFirmware) Rollback() (string, error) {
	m, closeFn, err := b.open()
	if err != nil {
		return "", err
	}
	defer closeFn()
	return m.Rollback()
}

// Status returns the firmware lines of show system.
func (b BoardFirmware) Status() ([]string, error) {
	m, closeFn, err := b.open()
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return m.Status()
}
