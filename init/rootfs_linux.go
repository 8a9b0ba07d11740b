package main

import (
	"github.com/u-root/u-root/pkg/libinit"
	"golang.org/x/sys/unix"
)

// rootfs is the in-RAM root filesystem that init sets up, in order. The
// initramfs is unpacked by the kernel; everything here is created at boot.
func rootfs() []libinit.Creator {
	return []libinit.Creator{
		libinit.Dir{Name: "/proc", Mode: 0o555},
		libinit.Mount{Source: "proc", Target: "/proc", FSType: "proc", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		libinit.Dir{Name: "/sys", Mode: 0o555},
		libinit.Mount{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		libinit.Dir{Name: "/dev", Mode: 0o755},
		libinit.Mount{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID},
		libinit.Dir{Name: "/dev/pts", Mode: 0o755},
		libinit.Mount{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Opts: "newinstance,ptmxmode=666,gid=5,mode=620"},
		libinit.Symlink{Target: "/dev/pts/ptmx", NewPath: "/dev/ptmx"},
		libinit.Dir{Name: "/tmp", Mode: 0o1777},
		libinit.Mount{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV},
		libinit.Dir{Name: "/run", Mode: 0o755},
		libinit.Mount{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Opts: "mode=0755"},
		libinit.Dir{Name: "/etc", Mode: 0o755},
		libinit.Dir{Name: "/cfg", Mode: 0o755},
	}
}
