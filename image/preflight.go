package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// hostRequirement is a file or command the build needs and the Debian
// package that provides it.
type hostRequirement struct {
	path    string // absolute file, or a command name looked up in PATH
	pkg     string
	purpose string
}

func hostRequirements() []hostRequirement {
	return []hostRequirement{
		{kernelSourceTarball, kernelSourcePackage, "kernel source"},
		{"gcc", "build-essential", "kernel build"},
		{"make", "build-essential", "kernel build"},
		{"flex", "flex", "kernel build"},
		{"bison", "bison", "kernel build"},
		{"bc", "bc", "kernel build"},
		{"xz", "xz-utils", "kernel compression"},
		{"zstd", "zstd", "initramfs compression"},
		{"/usr/include/libelf.h", "libelf-dev", "kernel build"},
		{"/usr/include/openssl/ssl.h", "libssl-dev", "kernel build"},
		{"syslinux", "syslinux", "bootloader"},
		{"/usr/lib/syslinux/mbr/mbr.bin", "syslinux-common", "bootloader MBR"},
		{"mcopy", "mtools", "writing the FAT boot partition"},
		{"mkfs.vfat", "dosfstools", "formatting the boot partition"},
		{"mke2fs", "e2fsprogs", "formatting the config partition"},
	}
}

// checkHost returns one error naming every missing requirement and the
// command that installs them all.
func checkHost() error {
	var missing []string
	pkgs := map[string]bool{}
	for _, r := range hostRequirements() {
		if strings.HasPrefix(r.path, "/") {
			if _, err := os.Stat(r.path); err == nil {
				continue
			}
		} else if _, err := exec.LookPath(r.path); err == nil {
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (%s)", r.path, r.purpose))
		pkgs[r.pkg] = true
	}
	if len(missing) == 0 {
		return nil
	}
	var names []string
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	return fmt.Errorf("missing %s: run `apt-get install -y %s` as root, or `make deps`",
		strings.Join(missing, ", "), strings.Join(names, " "))
}
