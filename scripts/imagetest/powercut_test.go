package imagetest

import (
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var descriptionRe = regexp.MustCompile(`set system description "?(pc-\d+-\d+)"?`)

// TestPowerCutDuringCommits commits in a loop and kills the VM at a random
// moment, 20 times (POWERCUT_ROUNDS overrides). After each cut the board
// must boot, configsvc must open its database, and the running config must
// be exactly one committed revision: the base config plus one of the
// descriptions that were committed or in flight, nothing half-written.
func TestPowerCutDuringCommits(t *testing.T) {
	rounds := 20
	if s := os.Getenv("POWERCUT_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("random seed %d", seed)

	b := newBoard(t, "qemu.img")
	b.boot()
	base := configLines(b.run("show configuration"))
	last := "" // newest description known to be running

	for round := 1; round <= rounds; round++ {
		b.run("configure")
		cut := time.Duration(500+rng.Intn(5500)) * time.Millisecond
		// candidates are the descriptions the running config may hold
		// after the cut: the last one known running, and the one whose
		// commit was in flight.
		candidates := []string{last}
		confirmed := 0
		vm := b.vm
		timer := time.AfterFunc(cut, vm.Stop) // the power cut
		for j := 1; !vm.Exited(); j++ {
			d := fmt.Sprintf("pc-%d-%d", round, j)
			candidates = append(candidates, d)
			if vm.Type("set system description "+d) != nil || vm.Type("commit "+d) != nil {
				break // QEMU is gone
			}
			if _, err := vm.Expect(regexp.MustCompile(`committed revision \d+`), bootTimeout); err != nil {
				break // cut before the commit was confirmed
			}
			// Confirmed: older descriptions can no longer be running.
			candidates = []string{d}
			confirmed++
		}
		timer.Stop()
		b.kill()

		b.boot()
		got := configLines(b.run("show configuration"))
		desc := ""
		var rest []string
		for _, l := range got {
			if m := descriptionRe.FindStringSubmatch(l); m != nil {
				desc = m[1]
				continue
			}
			rest = append(rest, l)
		}
		if strings.Join(rest, "\n") != strings.Join(base, "\n") {
			t.Fatalf("round %d (cut after %v): running config is not a committed revision:\n%s\nbase was:\n%s",
				round, cut, strings.Join(got, "\n"), strings.Join(base, "\n"))
		}
		if !slices.Contains(candidates, desc) {
			t.Fatalf("round %d (cut after %v): running description %q, want one of %q", round, cut, desc, candidates)
		}
		last = desc
		t.Logf("round %d: cut after %v, %d commits confirmed, running description %q", round, cut, confirmed, desc)
	}
}

// configLines returns the set lines of `show configuration`, sorted as the
// CLI prints them, without blank lines.
func configLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "set ") {
			lines = append(lines, l)
		}
	}
	return lines
}
