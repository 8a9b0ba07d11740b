package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"alixsec.dev/firmware/updfile"
)

// firmwarePrograms are alixsec's own commands, as paths relative to the
// module root. Each folder's name is its command name in the busybox.
func firmwarePrograms() []string {
	return []string{
		"./init",
		"./configsvc",
		"./configsvc/cli",
		"./configsvc/sshd",
		"./ikesvc",
	}
}

// consoleCommands are the u-root commands an admin wants on the console.
// gosh is the shell; it is built with the goshliner tag (a plain line
// editor that works on a serial terminal).
func consoleCommands() []string {
	const core = "github.com/u-root/u-root/cmds/core/"
	var cmds []string
	for _, c := range []string{"cat", "dmesg", "free", "gosh", "ip", "kill", "ls", "mount", "pidof", "ping", "ps", "umount", "uname",
		// A TCP sender/receiver for bulk-transfer checks over the SAs
		// (the low-MTU path test): netcat, head -c of /dev/urandom as the source, a
		// byte count of what arrived.
		"netcat", "head", "wc"} {
		cmds = append(cmds, core+c)
	}
	return cmds
}

// initramfsBuilder builds the firmware's initramfs: one gobusybox binary
// holding our programs and the console commands, for GOARCH=386 with
// GO386=softfloat, zstd-compressed with a 1 MiB window (larger ones fail to
// unpack in 64 MB of RAM). zstd, not xz: the kernel unpacks it about seven
// times faster (under TCG 0.98 s of every boot went to unxz), for 9% more
// bytes on the card.
type initramfsBuilder struct {
	moduleRoot string
	version    string
	workDir    string
	cacheDir   string // "" disables the cache
	progress   io.Writer
	updateKey  updfile.PublicKey // baked in as /etc/alixsec/update.pub
	buildTags  []string          // test variants only
}

// initramfsRecipe changes whenever the way the initramfs is built changes.
const initramfsRecipe = "alixsec-initramfs-recipe-1"

// cacheKey hashes everything the initramfs is built from: the recipe, the
// Go toolchain, go.mod/go.sum (which pin every dependency) and every
// non-test Go file of the module, plus the version string.
func (ib *initramfsBuilder) cacheKey() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%q\n%q\n%s\n%q\n", initramfsRecipe, runtime.Version(), ib.version, firmwarePrograms(), consoleCommands(), ib.updateKey, ib.buildTags)
	err := filepath.WalkDir(ib.moduleRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(ib.moduleRoot, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "out" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !(strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go")) && rel != "go.mod" && rel != "go.sum" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", rel, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("initramfs cache key: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// buildCached takes the initramfs from the cache when its inputs did not
// change, else builds it and stores it.
func (ib *initramfsBuilder) buildCached(dst string) error {
	if ib.cacheDir == "" {
		return ib.build(dst)
	}
	key, err := ib.cacheKey()
	if err != nil {
		return err
	}
	cached := filepath.Join(ib.cacheDir, "initramfs-"+key+".zst")
	if _, err := os.Stat(cached); err == nil {
		fmt.Fprintf(ib.progress, "initramfs: cached %s\n", key)
		return copyFile(cached, dst)
	}
	if err := ib.build(dst); err != nil {
		return err
	}
	pending, err := newPendingFile(cached)
	if err != nil {
		return err
	}
	defer pending.discard()
	if err := copyFile(dst, pending.tmp); err != nil {
		return err
	}
	if err := pending.commit(); err != nil {
		return err
	}
	pruneCache(ib.cacheDir, "initramfs-*.zst", 5)
	return nil
}

// pruneCache keeps the newest keep files matching pattern in dir.
func pruneCache(dir, pattern string, keep int) {
	paths, _ := filepath.Glob(filepath.Join(dir, pattern))
	type entry struct {
		path string
		mod  int64
	}
	var entries []entry
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			entries = append(entries, entry{p, fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].mod > entries[j].mod })
	for i := keep; i < len(entries); i++ {
		os.Remove(entries[i].path)
	}
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
	keyPath := filepath.Join(tmp, "update.pub")
	if err := os.WriteFile(keyPath, ib.updateKey.MarshalPublic(), 0o644); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	cpioPath := filepath.Join(tmp, "initramfs.cpio")
	env := golang.Default(
		golang.WithGOARCH("386"),
		golang.WithGOOS("linux"),
		golang.DisableCGO(),
		golang.WithBuildTag(append([]string{"goshliner"}, ib.buildTags...)...),
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
		uimage.WithFiles(versionPath+":etc/alixsec-version", keyPath+":"+strings.TrimPrefix(updfile.BakedKeyPath, "/")),
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
	zstd := exec.Command("zstd", "-19", "--zstd=wlog=20", "--threads=1", "--quiet", "--stdout", cpioPath)
	var stderr strings.Builder
	zstd.Stdout, zstd.Stderr = out, &stderr
	if err := zstd.Run(); err != nil {
		return fmt.Errorf("initramfs: zstd: %w: %s", err, stderr.String())
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	fmt.Fprintf(ib.progress, "initramfs: built in %s\n", time.Since(start).Round(time.Second))
	return nil
}
