package noloss

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
)

// PingLog is what the CLI's quiet ping (interval below 200 ms) printed.
type PingLog struct {
	Sent, Received int
	Losses         []LossRun
	Done           bool // the statistics line was there
}

// LossRun is a run of consecutive lost requests: the first one's uptime
// stamp and its sequence numbers.
type LossRun struct {
	Uptime      float64 // seconds, on the pinging board
	First, Last int
}

// Lost is how many requests the run lost.
func (r LossRun) Lost() int { return r.Last - r.First + 1 }

var (
	lossLine  = regexp.MustCompile(`(?m)^\[([0-9.]+)\] icmp_seq=(\d+)(?:-(\d+))?: no reply`)
	statsLine = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
)

// ParsePingLog reads a quiet ping's output. A run prints a line when it
// starts and one with its range when it ends; both carry the first
// request's stamp.
func ParsePingLog(out string) (PingLog, error) {
	var p PingLog
	runs := map[int]LossRun{}
	for _, m := range lossLine.FindAllStringSubmatch(out, -1) {
		up, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return p, fmt.Errorf("ping log: stamp %q: %w", m[1], err)
		}
		first, _ := strconv.Atoi(m[2])
		last := first
		if m[3] != "" {
			last, _ = strconv.Atoi(m[3])
		}
		if r, ok := runs[first]; !ok || last > r.Last {
			runs[first] = LossRun{Uptime: up, First: first, Last: last}
		}
	}
	for _, r := range runs {
		p.Losses = append(p.Losses, r)
	}
	sort.Slice(p.Losses, func(i, j int) bool { return p.Losses[i].First < p.Losses[j].First })
	if m := statsLine.FindStringSubmatch(out); m != nil {
		p.Sent, _ = strconv.Atoi(m[1])
		p.Received, _ = strconv.Atoi(m[2])
		p.Done = true
	}
	// Every request is answered or lost: stamps missing (no uptime) or a
	// garbled log would make the two disagree.
	if p.Done && p.Sent-p.Received != p.Lost() {
		return p, fmt.Errorf("ping log: %d sent, %d received, but %d stamped losses:\n%s", p.Sent, p.Received, p.Lost(), out)
	}
	return p, nil
}

// Lost is how many requests the log lost in all.
func (p PingLog) Lost() int {
	n := 0
	for _, r := range p.Losses {
		n += r.Lost()
	}
	return n
}

// Attribute counts each loss against the window it started in: windows[i]
// begins at starts[i] (uptime seconds, ascending) and ends where the next
// begins; a loss before the first start falls in -1 (the baseline before
// any event). It returns the lost count per window index and the
// baseline's.
func Attribute(losses []LossRun, starts []float64) (perWindow []int, baseline int) {
	perWindow = make([]int, len(starts))
	for _, r := range losses {
		i := sort.Search(len(starts), func(i int) bool { return starts[i] > r.Uptime }) - 1
		if i < 0 {
			baseline += r.Lost()
		} else {
			perWindow[i] += r.Lost()
		}
	}
	return perWindow, baseline
}
