package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// kernelSourceTarball is where Debian's linux-source-6.1 package puts the
// kernel source.
const (
	kernelSourcePackage = "linux-source-6.1"
	kernelSourceTarball = "/usr/src/linux-source-6.1.tar.xz"
	// kernelRecipe changes whenever the way the kernel is built changes,
	// so old cache entries are not reused.
	kernelRecipe = "alixsec-kernel-recipe-1"
)

// kernel is a built kernel in the cache.
type kernel struct {
	BzImage   string // path to bzImage
	DotConfig string // path to the final .config
	Key       string // cache key
}

// kernelBuilder builds the one kernel for all boards, cached by the hash
// of the source package version, the fragments and the recipe.
type kernelBuilder struct {
	cacheDir string
	fragment string // merged config fragment text
	jobs     int
	progress io.Writer
}

func (kb *kernelBuilder) cacheKey() (string, error) {
	version, err := debianPackageVersion(kernelSourcePackage)
	if err != nil {
		return "", err
	}
	gcc, err := exec.Command("gcc", "-dumpfullversion").Output()
	if err != nil {
		return "", fmt.Errorf("gcc -dumpfullversion: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s %s\ngcc %s\n%s", kernelRecipe, kernelSourcePackage, version, strings.TrimSpace(string(gcc)), kb.fragment)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// build returns the cached kernel, building it first when needed.
func (kb *kernelBuilder) build() (kernel, error) {
	wants, err := parseFragment(kb.fragment)
	if err != nil {
		return kernel{}, fmt.Errorf("kernel config fragment: %w", err)
	}
	key, err := kb.cacheKey()
	if err != nil {
		return kernel{}, err
	}
	final := filepath.Join(kb.cacheDir, "kernel-"+key)
	k := kernel{BzImage: filepath.Join(final, "bzImage"), DotConfig: filepath.Join(final, "config"), Key: key}
	if _, err := os.Stat(k.BzImage); err == nil {
		fmt.Fprintf(kb.progress, "kernel: cached %s\n", key)
		return k, nil
	}

	src, err := kb.extractSource()
	if err != nil {
		return kernel{}, err
	}
	buildDir := filepath.Join(kb.cacheDir, "build-"+key)
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		return kernel{}, fmt.Errorf("kernel build dir: %w", err)
	}
	fragPath := filepath.Join(buildDir, "alixsec.fragment")
	if err := os.WriteFile(fragPath, []byte(kb.fragment), 0o644); err != nil {
		return kernel{}, fmt.Errorf("write fragment: %w", err)
	}
	logPath := filepath.Join(buildDir, "build.log")
	steps := [][]string{
		{"make", "-C", src, "O=" + buildDir, "ARCH=i386", "tinyconfig"},
		{src + "/scripts/kconfig/merge_config.sh", "-m", "-O", buildDir, filepath.Join(buildDir, ".config"), fragPath},
		{"make", "-C", src, "O=" + buildDir, "ARCH=i386", "olddefconfig"},
	}
	for _, step := range steps {
		if err := runLogged(logPath, src, nil, step...); err != nil {
			return kernel{}, err
		}
	}
	dotConfig, err := os.ReadFile(filepath.Join(buildDir, ".config"))
	if err != nil {
		return kernel{}, fmt.Errorf("read kernel .config: %w", err)
	}
	if err := checkSurvived(wants, string(dotConfig)); err != nil {
		return kernel{}, err
	}

	fmt.Fprintf(kb.progress, "kernel: building %s with %d jobs (about 4 minutes the first time; log %s)\n", key, kb.jobs, logPath)
	start := time.Now()
	var objects atomic.Int64
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fmt.Fprintf(kb.progress, "kernel: %d files compiled, %s elapsed\n", objects.Load(), time.Since(start).Round(time.Second))
			}
		}
	}()
	err = runLogged(logPath, src, func(line string) {
		if strings.HasPrefix(line, "  CC ") || strings.HasPrefix(line, "  AS ") {
			objects.Add(1)
		}
	}, "make", "-C", src, "O="+buildDir, "ARCH=i386", fmt.Sprintf("-j%d", kb.jobs), "bzImage")
	close(stop)
	if err != nil {
		return kernel{}, err
	}
	fmt.Fprintf(kb.progress, "kernel: built in %s (%d files)\n", time.Since(start).Round(time.Second), objects.Load())

	// Publish the result atomically: a half-copied cache entry must never
	// look complete.
	tmp, err := os.MkdirTemp(kb.cacheDir, "kernel-tmp-")
	if err != nil {
		return kernel{}, fmt.Errorf("kernel cache: %w", err)
	}
	if err := copyFile(filepath.Join(buildDir, "arch/x86/boot/bzImage"), filepath.Join(tmp, "bzImage")); err != nil {
		return kernel{}, err
	}
	if err := copyFile(filepath.Join(buildDir, ".config"), filepath.Join(tmp, "config")); err != nil {
		return kernel{}, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return kernel{}, fmt.Errorf("kernel cache: %w", err)
	}
	return k, nil
}

// extractSource unpacks Debian's kernel source tarball once per package
// version.
func (kb *kernelBuilder) extractSource() (string, error) {
	version, err := debianPackageVersion(kernelSourcePackage)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(kb.cacheDir, "src-"+version)
	src := filepath.Join(dir, kernelSourcePackage)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return src, nil
	}
	fmt.Fprintf(kb.progress, "kernel: unpacking %s (%s)\n", kernelSourceTarball, version)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clean kernel source dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kernel source dir: %w", err)
	}
	if out, err := exec.Command("tar", "-C", dir, "-xf", kernelSourceTarball).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %w: %s", kernelSourceTarball, err, lastLines(string(out), 5))
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		return "", fmt.Errorf("kernel source dir: %w", err)
	}
	return src, nil
}

// runLogged runs a command, appending its output to logPath and passing
// each line to onLine. On failure the error carries the log's last lines.
func runLogged(logPath, dir string, onLine func(string), argv ...string) error {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open build log: %w", err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "$ %s\n", strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if onLine != nil {
				onLine(line)
			}
			tail = append(tail, line)
			if len(tail) > 20 {
				tail = tail[1:]
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%s failed: %w (log %s):\n%s", filepath.Base(argv[0]), err, logPath, strings.Join(tail, "\n"))
	}
	return nil
}

func debianPackageVersion(pkg string) (string, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil || len(out) == 0 {
		return "", fmt.Errorf("Debian package %s is not installed: run `apt-get install -y %s` (or `make deps`)", pkg, pkg)
	}
	return strings.TrimSpace(string(out)), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
