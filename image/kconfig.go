package main

import (
	"bufio"
	"fmt"
	"sort"
	"strings"
)

// kconfigWant is one line of a config fragment: an option with the value it
// must have after olddefconfig, or "n" for "# CONFIG_X is not set".
type kconfigWant struct {
	option string // e.g. CONFIG_M586MMX
	value  string // e.g. y, "-alixsec", or n
	line   int
}

// parseFragment reads a kernel config fragment. It accepts exactly the two
// forms Kconfig writes and reports any other non-comment line with its line
// number, so a typo in a fragment stops the build instead of being ignored.
func parseFragment(text string) ([]kconfigWant, error) {
	var wants []kconfigWant
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		var w kconfigWant
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# CONFIG_") && strings.HasSuffix(line, " is not set"):
			w = kconfigWant{option: strings.TrimSuffix(strings.TrimPrefix(line, "# "), " is not set"), value: "n", line: n}
		case strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "CONFIG_") && strings.Contains(line, "="):
			opt, val, _ := strings.Cut(line, "=")
			w = kconfigWant{option: opt, value: val, line: n}
		default:
			return nil, fmt.Errorf("line %d: %q is neither CONFIG_X=value nor '# CONFIG_X is not set'", n, line)
		}
		if !validOptionName(w.option) || w.value == "" {
			return nil, fmt.Errorf("line %d: malformed option %q", n, line)
		}
		if prev, ok := seen[w.option]; ok {
			return nil, fmt.Errorf("line %d: %s already set on line %d", n, w.option, prev)
		}
		seen[w.option] = n
		wants = append(wants, w)
	}
	return wants, sc.Err()
}

func validOptionName(s string) bool {
	if !strings.HasPrefix(s, "CONFIG_") || len(s) == len("CONFIG_") {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// parseDotConfig reads a full .config into option -> value; options that
// are "not set" are absent.
func parseDotConfig(text string) map[string]string {
	cfg := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if opt, val, ok := strings.Cut(line, "="); ok && strings.HasPrefix(opt, "CONFIG_") {
			cfg[opt] = val
		}
	}
	return cfg
}

// checkSurvived returns an error naming every requested option that
// olddefconfig dropped or changed (usually a missing dependency).
func checkSurvived(wants []kconfigWant, dotConfig string) error {
	cfg := parseDotConfig(dotConfig)
	var lost []string
	for _, w := range wants {
		got, set := cfg[w.option]
		switch {
		case w.value == "n" && set && got != "n":
			lost = append(lost, fmt.Sprintf("%s wanted off, is %s", w.option, got))
		case w.value != "n" && !set:
			lost = append(lost, fmt.Sprintf("%s=%s wanted, is not set", w.option, w.value))
		case w.value != "n" && got != w.value:
			lost = append(lost, fmt.Sprintf("%s=%s wanted, is %s", w.option, w.value, got))
		}
	}
	if len(lost) > 0 {
		sort.Strings(lost)
		return fmt.Errorf("kernel config: %d requested option(s) did not survive olddefconfig (missing dependency?): %s",
			len(lost), strings.Join(lost, "; "))
	}
	return nil
}
