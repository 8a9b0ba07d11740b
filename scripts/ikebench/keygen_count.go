package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"alixsec.dev/scripts/interop"
)

// Rough board speeds for turning instruction counts into seconds. Both
// cores are in-order x86; 0.5 instructions per cycle is a rough figure for
// integer bignum code (DESIGN.md: the Geode LX retires 0.5 to 1).
const (
	alixHz     = 500e6 // Geode LX800 (ALIX)
	wrapHz     = 266e6 // Geode SC1100 (WRAP)
	assumedIPC = 0.5
)

// keygenStats are the per-key instruction counts of one key type.
type keygenStats struct {
	typ                string
	n                  int
	first, median, max float64
}

// parseInsnWindows reads the plugin's "window N" lines: the instructions
// of each closed gate window, in order.
func parseInsnWindows(text string) ([]uint64, error) {
	var w []uint64
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || f[0] != "window" {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("instruction window line %q: %w", sc.Text(), err)
		}
		w = append(w, v)
	}
	return w, sc.Err()
}

// summarize returns the first, median and max of counts (the median of an
// even number is the mean of the middle two).
func summarize(typ string, counts []uint64) (keygenStats, error) {
	if len(counts) == 0 {
		return keygenStats{}, fmt.Errorf("%s: no counts", typ)
	}
	s := slices.Clone(counts)
	slices.Sort(s)
	mid := len(s) / 2
	median := float64(s[mid])
	if len(s)%2 == 0 {
		median = (float64(s[mid-1]) + float64(s[mid])) / 2
	}
	return keygenStats{typ: typ, n: len(s), first: float64(counts[0]), median: median, max: float64(s[len(s)-1])}, nil
}

// keygenCount returns how many keys of type typ to generate: RSA key
// generation is slow and varies a lot (the prime search), EC and Ed25519
// are cheap and steady.
func keygenCount(typ string, rsaN, ecN int) int {
	if strings.HasPrefix(typ, "rsa") {
		return rsaN
	}
	return ecN
}

// countKeygen runs the 386 program's keygen mode under qemu once per key
// type and returns the per-key counts.
func countKeygen(ctx context.Context, tools insnTools, types []string, rsaN, ecN int, logf func(string, ...any)) ([]keygenStats, error) {
	var out []keygenStats
	for _, typ := range types {
		n := keygenCount(typ, rsaN, ecN)
		logf("counting %d %s key generations under qemu-i386", n, typ)
		text, err := tools.count(ctx, "keygen-"+typ, "-mode", "keygen", "-key-type", typ, "-k", strconv.Itoa(n))
		if err != nil {
			return out, err
		}
		w, err := parseInsnWindows(text)
		if err != nil {
			return out, err
		}
		if len(w) != n {
			return out, fmt.Errorf("%s: plugin reported %d gate windows for %d keys", typ, len(w), n)
		}
		st, err := summarize(typ, w)
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}

// boardSeconds is the time insns instructions take at hz and assumedIPC.
func boardSeconds(insns, hz float64) float64 { return insns / (hz * assumedIPC) }

// keygenRows turns the counts into table rows, with a footnote row for
// the assumption behind the seconds.
func keygenRows(stats []keygenStats) []row {
	var rows []row
	for _, s := range stats {
		rows = append(rows, row{
			measure: fmt.Sprintf("key generation %s on 386 softfloat (%d keys)", s.typ, s.n),
			value: fmt.Sprintf("median %s M instructions, max %s M (first %s M); ALIX %s s (max %s), WRAP %s s (max %s) *",
				mega(s.median), mega(s.max), mega(s.first),
				secs(boardSeconds(s.median, alixHz)), secs(boardSeconds(s.max, alixHz)),
				secs(boardSeconds(s.median, wrapHz)), secs(boardSeconds(s.max, wrapHz))),
		})
	}
	if len(rows) > 0 {
		rows = append(rows, row{
			measure: "* seconds assume",
			value:   fmt.Sprintf("%.1f instructions/cycle: ALIX Geode LX %.0f MHz, WRAP SC1100 %.0f MHz (in-order cores)", assumedIPC, alixHz/1e6, wrapHz/1e6),
		})
	}
	return rows
}

// mega formats an instruction count in millions: one decimal below 100 M.
func mega(v float64) string {
	if v < 100e6 {
		return strconv.FormatFloat(v/1e6, 'f', 1, 64)
	}
	return strconv.FormatFloat(v/1e6, 'f', 0, 64)
}

// secs formats seconds: three decimals below 1 s, one above.
func secs(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// keygenOptions are the bench's key generation flags.
type keygenOptions struct {
	skip      bool
	types     string // comma-separated
	rsaN, ecN int
	timeout   time.Duration
}

// parseKeygenTypes splits the -keygen-types list and checks each type
// against the CLI's.
func parseKeygenTypes(list string) ([]string, error) {
	var types []string
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !slices.Contains(keygenTypes, t) {
			return nil, fmt.Errorf("-keygen-types: %q is not one of %s", t, strings.Join(keygenTypes, ", "))
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("-keygen-types %q: no key type", list)
	}
	return types, nil
}

// benchKeygen counts the instructions of the CLI's key generation in the
// 386 softfloat build and returns the table rows.
func benchKeygen(o keygenOptions, logw io.Writer) ([]row, error) {
	logf := func(f string, a ...any) { fmt.Fprintf(logw, "ikebench: "+f+"\n", a...) }
	types, err := parseKeygenTypes(o.types)
	if err != nil {
		return nil, err
	}
	if o.rsaN < 1 || o.ecN < 1 {
		return nil, errors.New("-keygen-rsa-n and -keygen-ec-n must be at least 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	root, err := interop.RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := installInsnTools(ctx); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ikebench-keygen-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	tools, err := prepareInsnTools(ctx, root, dir)
	if err != nil {
		return nil, fmt.Errorf("key generation count: %w", err)
	}
	stats, err := countKeygen(ctx, tools, types, o.rsaN, o.ecN, logf)
	if err != nil {
		err = fmt.Errorf("key generation count: %w", err)
	}
	return keygenRows(stats), err
}
