package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"
)

// firmwarePrograms are alixsec's own commands, as paths relative to the
// module root. Each folder's name is its command name in the busybox.
func firmwarePrograms() []string {
	return []string{
		"./init",
		"./configsvc",
		"./configsvc/cli",
		"./ikesvc",
	}
}

// consoleCommands are the u-root commands an admin wants on the console.
// gosh is the shell; it is built with the goshliner tag (a plain line
// editor that works on a serial terminal).
func consoleCommands() []string {
	const core = "github.com/u-root/u-root/cmds/core/"
	var cmds []string
	for _, c := range []string{"cat", "dmesg", "free", "gosh", "ip", "ls", "mount", "ping", "ps", "umount", "uname"} {
		cmds = append(cmds, core+c)
	}
	return cmds
}

// initramfsBuilder builds the firmware's initramfs: one gobusybox binary
// holding our programs and the console commands, for GOARCH=386 with
// GO386=softfloat, xz-compressed with a 1 MiB dictionary (larger ones fail
// to unpack in 64 MB of RAM).
type initramfsBuilder struct {
	moduleRoot string
	version    string
	workDir    string
	progress   io.Writer
}

// build writes the compressed initramfs to dst.
func (ib *initramfsBuilder) build(dst string) error {
	start := time.Now()
	if os.Getenv("GO386") != "softfloat" {
		return fmt.Errorf("initramfs: GO386=softfloat must be set in the builder's environment (the Geode has no SSE2)")
	}
	tmp, err := os.MkdirTemp(ib.workDir, "initramfs-")
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer os.RemoveAll(tmp)
	versionPath := filepath.Join(tmp, "version")
	if err := os.WriteFile(versionPath, []byte(ib.version+"\n"), 0o644); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	cpioPath := filepath.Join(tmp, "initramfs.cpio")
	env := golang.Default(
		golang.WithGOARCH("386"),
		golang.WithGOOS("linux"),
		golang.DisableCGO(),
		golang.WithBuildTag("goshliner"),
		golang.WithWorkingDir(ib.moduleRoot),
	)
	logger := llog.New(slog.LevelWarn, llog.WritePrintf(ib.progress))
	fmt.Fprintf(ib.progress, "initramfs: building busybox (GOARCH=386 GO386=softfloat)\n")
	err = uimage.Create(logger,
		uimage.WithReplaceEnv(env),
		uimage.WithTempDir(tmp),
		uimage.WithBusyboxCommands(append(firmwarePrograms(), consoleCommands()...)...),
		uimage.WithInit("init"),
		uimage.WithShell("gosh"),
		uimage.WithFiles(versionPath+":etc/alixsec-version"),
		uimage.WithSkipLDD(),
		uimage.WithCPIOOutput(cpioPath),
	)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer out.Close()
	xz := exec.Command("xz", "--format=xz", "--check=crc32", "--lzma2=preset=9e,dict=1MiB", "--threads=1", "--stdout", cpioPath)
	var stderr strings.Builder
	xz.Stdout, xz.Stderr = out, &stderr
	if err := xz.Run(); err != nil {
		return fmt.Errorf("initramfs: xz: %w: %s", err, stderr.String())
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	fmt.Fprintf(ib.progress, "initramfs: built in %s\n", time.Since(start).Round(time.Second))
	return nil
}
