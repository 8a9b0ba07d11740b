// Command image builds alixsec's bootable CompactFlash disk images:
//
//	go run ./image -board alix -o out/alix.img
//	go run ./image -board alix,wrap,qemu        # out/<board>.img each
//
// It builds (or takes from its cache) the one kernel that boots every
// board, builds the u-root initramfs, and writes the disk image. Besides
// the images it leaves out/bzImage, out/initramfs.zst and out/kernel.config
// for tests and benchmarks.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"alixsec.dev/board"
	"alixsec.dev/firmware/updfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	boards   []board.Board
	output   string // single image path, with one board
	outDir   string
	cacheDir string
	version  string
	jobs     int
	preseed  string // alixca bundle for the config partition
	keyDir   string // update signing key pair, made on first use
	variant  string // test-only broken init: "", "init-exits" or "hangs"
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	boards := fs.String("board", "", "board(s) to build, comma-separated: "+strings.Join(board.Names(), ", "))
	output := fs.String("o", "", "output image path (one board only; default OUTDIR/BOARD.img)")
	outDir := fs.String("outdir", "out", "output directory")
	cacheDir := fs.String("cache", defaultCacheDir(), "kernel build cache (env ALIXSEC_CACHE)")
	version := fs.String("version", "", "firmware version (default: git describe)")
	jobs := fs.Int("j", runtime.NumCPU(), "parallel kernel build jobs")
	preseed := fs.String("preseed", "", "alixca bundle (HOST.tar) whose config.set is imported on first boot")
	keyDir := fs.String("keydir", "", "update signing key pair (update.sec, update.pub), made when missing (default CACHE/update-key, env ALIXSEC_UPDATE_KEYS)")
	variant := fs.String("variant", "", "tests only: build a deliberately broken init: init-exits or hangs")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *boards == "" {
		return options{}, fmt.Errorf("-board is required (one of %s)", strings.Join(board.Names(), ", "))
	}
	opts := options{output: *output, outDir: *outDir, cacheDir: *cacheDir, version: *version, jobs: *jobs, preseed: *preseed, keyDir: *keyDir, variant: *variant}
	if _, ok := variantTags[opts.variant]; !ok {
		return options{}, fmt.Errorf("-variant %q: want init-exits or hangs", opts.variant)
	}
	if opts.keyDir == "" {
		opts.keyDir = os.Getenv("ALIXSEC_UPDATE_KEYS")
	}
	if opts.keyDir == "" {
		opts.keyDir = filepath.Join(opts.cacheDir, "update-key")
	}
	for _, name := range strings.Split(*boards, ",") {
		b, err := board.Lookup(strings.TrimSpace(name))
		if err != nil {
			return options{}, err
		}
		opts.boards = append(opts.boards, b)
	}
	if opts.output != "" && len(opts.boards) != 1 {
		return options{}, errors.New("-o names one image; use -outdir with several boards")
	}
	if opts.version == "" {
		opts.version = gitVersion()
	}
	return opts, nil
}

func defaultCacheDir() string {
	if d := os.Getenv("ALIXSEC_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "alixsec")
	}
	return ".cache"
}

func gitVersion() string {
	out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

func run(args []string, progress io.Writer) error {
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	if err := checkHost(); err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	// gobusybox changes directories while building: every path it sees
	// must be absolute.
	for _, p := range []*string{&opts.cacheDir, &opts.outDir, &opts.output, &opts.preseed, &opts.keyDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	for _, d := range []string{opts.cacheDir, opts.outDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	// gobusybox passes GO386 to the compiler through the environment; the
	// builder itself runs on amd64, where GO386 means nothing.
	os.Setenv("GO386", "softfloat")

	// Check the preseed before the long build steps.
	var configContent string
	if opts.preseed != "" {
		if configContent, err = preseedDir(opts.preseed, opts.outDir); err != nil {
			return err
		}
		defer os.RemoveAll(configContent)
	}

	pub, sec, made, err := updfile.LoadOrCreateKeyDir(opts.keyDir)
	if err != nil {
		return err
	}
	if made {
		fmt.Fprintf(progress, "image: made update signing key %s in %s (keep it: boards built now trust only it)\n", pub.Num, opts.keyDir)
	}

	fragment, err := board.KernelConfig()
	if err != nil {
		return err
	}
	kb := &kernelBuilder{cacheDir: opts.cacheDir, fragment: fragment, jobs: opts.jobs, progress: progress}
	k, err := kb.build()
	if err != nil {
		return err
	}

	work, err := os.MkdirTemp(opts.outDir, ".work-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)
	initrd := filepath.Join(work, "initramfs.zst")
	ib := &initramfsBuilder{moduleRoot: root, version: opts.version, workDir: work, cacheDir: opts.cacheDir, progress: progress,
		updateKey: pub, buildTags: variantTags[opts.variant]}
	if err := ib.buildCached(initrd); err != nil {
		return err
	}

	// Side products for tests and benchmarks, each replaced atomically.
	for src, name := range map[string]string{k.BzImage: "bzImage", k.DotConfig: "kernel.config", initrd: "initramfs.zst"} {
		if err := publishCopy(src, filepath.Join(opts.outDir, name)); err != nil {
			return err
		}
	}

	for _, b := range opts.boards {
		dst := opts.output
		if dst == "" {
			dst = filepath.Join(opts.outDir, b.Name+".img")
		}
		if err := writeImage(dst, b, k.BzImage, initrd, work, configContent); err != nil {
			return fmt.Errorf("%s: %w", dst, err)
		}
		fmt.Fprintf(progress, "image: wrote %s (board %s, firmware %s)\n", dst, b.Name, opts.version)
		upd := strings.TrimSuffix(dst, ".img") + ".upd"
		if err := writeUpdate(upd, sec, b.Name, opts.version, k.BzImage, initrd); err != nil {
			return fmt.Errorf("%s: %w", upd, err)
		}
		fmt.Fprintf(progress, "image: wrote %s (signed by %s)\n", upd, pub.Num)
	}
	return nil
}

// variantTags are the build tags of each -variant: broken firmware the
// upgrade tests install to see the board fall back by itself.
var variantTags = map[string][]string{
	"":           nil,
	"init-exits": {"alixsec_initexits"},
	"hangs":      {"alixsec_hangs"},
}

// writeUpdate writes the signed update file of one board's firmware.
func writeUpdate(dst string, key updfile.SecretKey, board, version, kernelPath, initrdPath string) error {
	kernel, err := os.ReadFile(kernelPath)
	if err != nil {
		return err
	}
	initrd, err := os.ReadFile(initrdPath)
	if err != nil {
		return err
	}
	pending, err := newPendingFile(dst)
	if err != nil {
		return err
	}
	defer pending.discard()
	f, err := os.Create(pending.tmp)
	if err != nil {
		return err
	}
	if err := updfile.Write(f, key, board, version, kernel, initrd); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return pending.commit()
}

func writeImage(dst string, b board.Board, bzImage, initrd, work, configContent string) error {
	pending, err := newPendingFile(dst)
	if err != nil {
		return err
	}
	defer pending.discard()
	var slots []firmwareSlot
	for _, label := range []string{"a", "b"} {
		slots = append(slots, firmwareSlot{label: label, kernel: bzImage, initrd: initrd, cmdline: b.Cmdline()})
	}
	if err := writeDisk(pending.tmp, b.ConsoleBaud, slots, work, configContent); err != nil {
		return err
	}
	return pending.commit()
}

func publishCopy(src, dst string) error {
	pending, err := newPendingFile(dst)
	if err != nil {
		return err
	}
	defer pending.discard()
	if err := copyFile(src, pending.tmp); err != nil {
		return err
	}
	return pending.commit()
}

// moduleRoot finds the directory holding go.mod, from the working
// directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found: run from the alixsec source tree")
		}
		dir = parent
	}
}
