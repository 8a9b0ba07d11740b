package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// insnPluginSource is the qemu TCG plugin that counts guest instructions
// (kept as .c.txt: a .c file would make go build demand cgo).
//
//go:embed insnplugin.c.txt
var insnPluginSource string

// insnCount is what the plugin counted in one run of the 386 program.
type insnCount struct {
	Total  uint64 // every guest instruction of the process
	Gated  uint64 // while the responder engine handled a datagram
	Opened uint64 // how often the gate opened (datagrams to the responder)
}

// parseInsnCount reads the plugin's output ("total N", "gated N",
// "opened N" lines).
func parseInsnCount(text string) (insnCount, error) {
	var c insnCount
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return c, fmt.Errorf("instruction count line %q: %w", sc.Text(), err)
		}
		switch f[0] {
		case "total":
			c.Total = v
		case "gated":
			c.Gated = v
		case "opened":
			c.Opened = v
		default:
			continue
		}
		seen[f[0]] = true
	}
	if !seen["total"] || !seen["gated"] || !seen["opened"] {
		return c, fmt.Errorf("instruction count output lacks total, gated or opened: %q", text)
	}
	return c, nil
}

// insnSpec says what to count: k handshakes after warmup ones, with the
// credentials in credDir, under tools.
type insnSpec struct {
	tools     insnTools
	credDir   string
	ike, esp  string
	warmup, k int
}

// insnResult is the per-handshake figure and how it was reached.
type insnResult struct {
	PerResponder float64 // gated instructions / k
	PerPair      float64 // (total(warmup+k) - total(warmup)) / k: both engines
	Count        insnCount
}

// insnTools are what counting needs: qemu-i386, this program built for
// 386 softfloat, and the compiled plugin.
type insnTools struct {
	qemu, bin, plugin, dir string
}

// prepareInsnTools builds the 386 softfloat program and the qemu plugin
// into dir.
func prepareInsnTools(ctx context.Context, repoRoot, dir string) (insnTools, error) {
	qemu, err := exec.LookPath("qemu-i386")
	if err != nil {
		return insnTools{}, errors.New("no qemu-i386 (Debian package qemu-user): this host cannot exec 386 binaries itself, so valgrind cannot count them")
	}
	t := insnTools{qemu: qemu, bin: filepath.Join(dir, "ikebench-386"), plugin: filepath.Join(dir, "insnplugin.so"), dir: dir}
	build := exec.CommandContext(ctx, "go", "build", "-o", t.bin, "./scripts/ikebench")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "GOARCH=386", "GO386=softfloat", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return insnTools{}, fmt.Errorf("build 386 softfloat program: %w: %s", err, out)
	}
	src := filepath.Join(dir, "insnplugin.c")
	if err := os.WriteFile(src, []byte(insnPluginSource), 0o600); err != nil {
		return insnTools{}, fmt.Errorf("write qemu plugin source: %w", err)
	}
	if out, err := exec.CommandContext(ctx, "cc", "-shared", "-fPIC", "-O2", "-o", t.plugin, src).CombinedOutput(); err != nil {
		return insnTools{}, fmt.Errorf("compile qemu plugin: %w: %s", err, out)
	}
	return t, nil
}

// count runs the 386 program with args under qemu-i386 and the plugin and
// returns the plugin's output; name tells the runs' output files apart.
func (t insnTools) count(ctx context.Context, name string, args ...string) (string, error) {
	out := filepath.Join(t.dir, "insn-"+name+".txt")
	cmd := exec.CommandContext(ctx, t.qemu, append([]string{"-plugin", t.plugin + ",out=" + out, t.bin}, args...)...)
	// One P, as on the single-core Geode: the garbage collector runs
	// in the goroutine that allocates, not beside the gate. No
	// asynchronous preemption: qemu-user keeps one GDT for all guest
	// threads, so the TLS entry each Go thread sets with
	// set_thread_area is shared, and a signal return reloading %gs in
	// another thread picks up the wrong g ("bad g in signal handler",
	// even for hello world under QEMU 7.2).
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("qemu-i386 ikebench-386 %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return "", fmt.Errorf("qemu plugin wrote no count: %w", err)
	}
	return string(data), nil
}

// countInstructions runs the in-process pair under qemu-i386 twice
// (warmup handshakes only, then warmup+k) so that start-up costs cancel
// out of PerPair.
func countInstructions(ctx context.Context, s insnSpec) (insnResult, error) {
	run := func(k int) (insnCount, error) {
		text, err := s.tools.count(ctx, fmt.Sprintf("pair-%d", k),
			"-mode", "pair", "-creds", s.credDir, "-ike", s.ike, "-esp", s.esp,
			"-warmup", strconv.Itoa(s.warmup), "-k", strconv.Itoa(k))
		if err != nil {
			return insnCount{}, err
		}
		return parseInsnCount(text)
	}
	base, err := run(0)
	if err != nil {
		return insnResult{}, err
	}
	full, err := run(s.k)
	if err != nil {
		return insnResult{}, err
	}
	if full.Gated == 0 || full.Opened == 0 {
		return insnResult{}, fmt.Errorf("the gate never opened (plugin saw %d openings): personality marker not seen", full.Opened)
	}
	return insnResult{
		PerResponder: float64(full.Gated) / float64(s.k),
		PerPair:      (float64(full.Total) - float64(base.Total)) / float64(s.k),
		Count:        full,
	}, nil
}
