package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CF card layout, in 512-byte sectors. Partition 1 (FAT16, active) holds
// syslinux and two firmware slots, /a and /b, each a kernel and an
// initramfs; partition 2 (ext4) holds the configuration. 49 MiB in all, so
// the image fits the smallest (64 MB) CF cards these boards shipped with.
const (
	bootStart  = 2048     // 1 MiB alignment
	bootSize   = 32 << 11 // 32 MiB
	configSize = 16 << 11 // 16 MiB
	diskBytes  = (bootStart + bootSize + configSize) * sectorSize
	mbrBinPath = "/usr/lib/syslinux/mbr/mbr.bin"
)

func configStart() uint32 { return bootStart + bootSize }

// diskLayout returns the partition table of the CF image.
func diskLayout() []partition {
	return []partition{
		{active: true, typ: partTypeFAT16, start: bootStart, size: bootSize},
		{typ: partTypeLinux, start: configStart(), size: configSize},
	}
}

// Slot file sizes on the boot partition. Each slot's files are made at
// these sizes (the firmware zero-padded) and never change size, so an
// upgrade overwrites file data in place and no FAT or directory entry is
// ever rewritten on the board (see firmware/bootpart).
const (
	kernelSlotBytes = 4 << 20
	initrdSlotBytes = 11 << 20
	// panicReboot is the kernel's panic=N: a panicking kernel (or an init
	// that exits) reboots, and a trial firmware falls back to the old slot.
	panicReboot = 5
)

// syslinuxModules are the com32 modules the menu needs (ldlinux.c32 is
// installed by syslinux itself).
var syslinuxModules = []string{"menu.c32", "libutil.c32", "libcom32.c32"}

const syslinuxModuleDir = "/usr/lib/syslinux/modules/bios"

// firmwareSlot is one bootable kernel + initramfs pair on the boot
// partition.
type firmwareSlot struct {
	label   string // syslinux label and directory: "a" or "b"
	kernel  string // host path of bzImage
	initrd  string // host path of the zstd initramfs
	cmdline string
}

// syslinuxConfig boots slot a unless syslinux's ADV says otherwise: the
// menu (hidden, 0.1 s) starts on the label saved in the ADV (MENU SAVE),
// which the firmware sets once a new slot came up healthy; a trial boot
// uses the ADV's boot-once, which ldlinux clears before it loads the
// kernel. No label saves itself (MENU NOSAVE), so booting never writes the
// card: only the firmware's upgrade and mark-good steps do.
func syslinuxConfig(baud int, slots []firmwareSlot) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "SERIAL 0 %d\nCONSOLE 0\nUI menu.c32\nPROMPT 0\nTIMEOUT 1\nMENU HIDDEN\nMENU SAVE\nDEFAULT %s\n", baud, slots[0].label)
	for _, s := range slots {
		fmt.Fprintf(&sb, "\nLABEL %s\n  MENU LABEL alixsec slot %s\n  MENU NOSAVE\n  KERNEL /%s/vmlinuz\n  INITRD /%s/initrd\n  APPEND %s panic=%d alixsec.slot=%s\n",
			s.label, s.label, s.label, s.label, s.cmdline, panicReboot, s.label)
	}
	return sb.String()
}

// paddedCopy copies src into workDir at size bytes (zero-padded): the
// fixed-size slot file.
func paddedCopy(src, workDir, name string, size int64) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("disk image: %w", err)
	}
	if fi.Size() > size {
		return "", fmt.Errorf("disk image: %s is %d bytes, the slot holds %d", src, fi.Size(), size)
	}
	dst := filepath.Join(workDir, name)
	if err := copyFile(src, dst); err != nil {
		return "", err
	}
	if err := os.Truncate(dst, size); err != nil {
		return "", fmt.Errorf("disk image: %w", err)
	}
	return dst, nil
}

// writeDisk writes the whole CF image to path (a plain file: no loop
// devices and no mounts, so it works in containers without /dev/loop).
//
// configContent, when not empty, is a directory whose files are put on the
// config partition (the preseed).
func writeDisk(path string, baud int, slots []firmwareSlot, workDir, configContent string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	bootCode, err := os.ReadFile(mbrBinPath)
	if err != nil {
		f.Close()
		return fmt.Errorf("disk image: syslinux MBR code: %w", err)
	}
	mbr, err := buildMBR(bootCode, diskLayout())
	if err != nil {
		f.Close()
		return fmt.Errorf("disk image: %w", err)
	}
	// Write the last byte first: a full disk fails here, before any tool
	// has run.
	if _, err := f.WriteAt([]byte{0}, diskBytes-1); err != nil {
		f.Close()
		return fmt.Errorf("disk image: allocate %d MiB: %w", diskBytes>>20, err)
	}
	if _, err := f.WriteAt(mbr, 0); err != nil {
		f.Close()
		return fmt.Errorf("disk image: write MBR: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("disk image: %w", err)
	}

	bootOffset := fmt.Sprint(bootStart * sectorSize)
	at := path + "@@" + bootOffset
	steps := [][]string{
		{"mkfs.vfat", "--offset=" + fmt.Sprint(bootStart), "-F", "16", "-n", "ALIXSEC", "-i", "a11c5ec0", path, fmt.Sprint(bootSize / 2)},
		{"syslinux", "--offset", bootOffset, "--install", path},
	}
	cfgPath := filepath.Join(workDir, "syslinux.cfg")
	if err := os.WriteFile(cfgPath, []byte(syslinuxConfig(baud, slots)), 0o644); err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	steps = append(steps, []string{"mcopy", "-i", at, cfgPath, "::/syslinux.cfg"})
	for _, m := range syslinuxModules {
		steps = append(steps, []string{"mcopy", "-i", at, filepath.Join(syslinuxModuleDir, m), "::/" + m})
	}
	for _, s := range slots {
		kernel, err := paddedCopy(s.kernel, workDir, "vmlinuz."+s.label, kernelSlotBytes)
		if err != nil {
			return err
		}
		initrd, err := paddedCopy(s.initrd, workDir, "initrd."+s.label, initrdSlotBytes)
		if err != nil {
			return err
		}
		steps = append(steps,
			[]string{"mmd", "-i", at, "::/" + s.label},
			[]string{"mcopy", "-i", at, kernel, "::/" + s.label + "/vmlinuz"},
			[]string{"mcopy", "-i", at, initrd, "::/" + s.label + "/initrd"},
		)
	}
	// The config partition is formatted now so the board never has to;
	// lazy init is off because the kernel would otherwise zero inode tables
	// in the background after the first mount: CF writes in steady state.
	mke2fs := []string{"mke2fs", "-q", "-F", "-t", "ext4", "-L", "CONFIG", "-m", "0",
		"-E", fmt.Sprintf("offset=%d,lazy_itable_init=0,lazy_journal_init=0", configStart()*sectorSize)}
	if configContent != "" {
		mke2fs = append(mke2fs, "-d", configContent)
	}
	steps = append(steps, append(mke2fs, path, fmt.Sprint(configSize/2 /* KiB blocks */)))
	for _, argv := range steps {
		cmd := exec.Command(argv[0], argv[1:]...)
		// mtools refuses images whose geometry it cannot guess unless told
		// to skip the check.
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("disk image: %s: %w: %s", strings.Join(argv, " "), err, lastLines(string(out), 5))
		}
	}
	return nil
}
