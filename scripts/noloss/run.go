package noloss

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"alixsec.dev/scripts/qemu"
)

// PingInterval is the rate: one echo request every 10 ms.
const PingInterval = 10 * time.Millisecond

// EventResult is one event of a run and what it lost.
type EventResult struct {
	Event
	Start float64       // the pinging board's uptime when it began
	Took  time.Duration // until it settled: SAs up, pings passing
	Lost  int
	Err   error // errUnsupported-wrapped when the firmware refused it
	Stuck bool  // its effects did not heal by themselves within HealAfter
}

// Unsupported reports whether the firmware refused the event as not
// implemented (its window still counts losses).
func (e EventResult) Unsupported() bool { return errors.Is(e.Err, errUnsupported) }

// Result is one mode's run.
type Result struct {
	Peer     Peer
	Baseline int           // lost before the first event
	Quiet    time.Duration // how long the baseline window was
	Events   []EventResult
	Ping     PingLog
}

// LostBy sums the losses per event kind, and counts the events of each
// kind that ran (were not refused) and those that did not heal by
// themselves (their loss is a lower bound).
func (r *Result) LostBy() (lost, ran, stuck map[string]int) {
	lost, ran, stuck = map[string]int{}, map[string]int{}, map[string]int{}
	for _, e := range r.Events {
		if e.Unsupported() {
			continue
		}
		lost[e.Kind] += e.Lost
		ran[e.Kind]++
		if e.Stuck {
			stuck[e.Kind]++
		}
	}
	return lost, ran, stuck
}

// run is one pass through the events.
type run struct {
	shells map[string]*Shell
	peer   Peer
	target netip.Addr // sun's protected address; moon pings it
	logf   func(string, ...any)
	last   map[string]string // each board's last `show ipsec sa` when settled
}

// Pinger is a background `ping ADDR interval 10` of the CLI on a board,
// started from its shell.
type Pinger struct {
	s   *Shell
	pid int
	log string
}

// StartPinger starts the CLI's quiet ping of addr every interval in the
// background, writing to logFile on the board.
func StartPinger(s *Shell, addr netip.Addr, interval time.Duration, logFile string) (*Pinger, error) {
	before, err := s.PIDs("cli")
	if err != nil {
		return nil, err
	}
	cmd := fmt.Sprintf("echo 'ping %s interval %d count 65535' | /bbin/cli > %s 2>&1 &", addr, interval.Milliseconds(), logFile)
	if _, err := s.Run(cmd); err != nil {
		return nil, err
	}
	p := &Pinger{s: s, log: logFile}
	err = waitFor(s.B.Name+": the background ping's process", 60*time.Second, 500*time.Millisecond, func() (bool, error) {
		now, err := s.PIDs("cli")
		for _, n := range now {
			if !contains(before, n) {
				p.pid = n
			}
		}
		return p.pid != 0, err
	})
	if err != nil {
		return nil, err
	}
	err = waitFor(s.B.Name+": the background ping's first line", 60*time.Second, 500*time.Millisecond, func() (bool, error) {
		out, err := s.Run("cat " + logFile)
		return strings.Contains(out, "listing only losses"), err
	})
	return p, err
}

// Stop ends the ping (kill -INT: it stops sending and awaits the last
// replies) and returns its log.
func (p *Pinger) Stop() (PingLog, string, error) {
	if _, err := p.s.Run(fmt.Sprintf("kill -2 %d", p.pid)); err != nil {
		return PingLog{}, "", err
	}
	var out string
	err := waitFor(p.s.B.Name+": the ping's statistics", 60*time.Second, time.Second, func() (bool, error) {
		var err error
		out, err = p.s.Run("cat " + p.log)
		return strings.Contains(out, "packets transmitted"), err
	})
	if err != nil {
		return PingLog{}, out, err
	}
	pl, err := ParsePingLog(out)
	return pl, out, err
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Run goes through events while moon pings sun's protected address every
// 10 ms: after quiet seconds without any event (the baseline: under TCG
// it must lose nothing, else the harness measures the emulator), each
// event in turn, waiting after each until the SAs are up on both boards
// and pings pass. Each loss counts against the event in whose window its
// request was sent. peer must be ESTABLISHED.
func Run(moon, sun *Shell, peer Peer, target netip.Addr, events []Event, quiet time.Duration, logf func(string, ...any)) (*Result, error) {
	r := &run{shells: map[string]*Shell{"moon": moon, "sun": sun}, peer: peer, target: target, logf: logf, last: map[string]string{}}
	if err := r.settle(eventTimeout); err != nil {
		return nil, err
	}
	pinger, err := StartPinger(moon, target, PingInterval, "/tmp/ping-"+peer.Name+".log")
	if err != nil {
		return nil, err
	}
	res := &Result{Peer: peer, Quiet: quiet}
	time.Sleep(quiet)
	var starts []float64
	for i, ev := range events {
		t0, err := moon.Uptime()
		if err != nil {
			return res, err
		}
		began := time.Now()
		err = r.do(ev, i)
		if err != nil && !errors.Is(err, errUnsupported) {
			return res, fmt.Errorf("%s on %s: %w", ev.Kind, ev.Board, err)
		}
		stuck, serr := r.settleOrHeal()
		if serr != nil {
			return res, fmt.Errorf("after %s on %s: %w", ev.Kind, ev.Board, serr)
		}
		starts = append(starts, t0)
		res.Events = append(res.Events, EventResult{Event: ev, Start: t0, Took: time.Since(began), Err: err, Stuck: stuck})
		logf("%s: %s on %s at uptime %.2f s: settled in %v%s", peer.Mode, ev.Kind, ev.Board, t0, time.Since(began).Round(100*time.Millisecond), errSuffix(err))
	}
	pl, out, err := pinger.Stop()
	if err != nil {
		return res, err
	}
	res.Ping = pl
	perWindow, baseline := Attribute(pl.Losses, starts)
	res.Baseline = baseline
	for i := range res.Events {
		res.Events[i].Lost = perWindow[i]
	}
	logf("%s: ping log of moon:\n%s", peer.Mode, out)
	return res, nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// HealAfter is how long settle waits for an event's effects to heal by
// themselves; then moon clears and re-initiates the SA (the admin's way
// out), and the event is marked Stuck.
const HealAfter = 30 * time.Second

// settle waits until both boards show the SA and pings pass from moon.
// One CLI run on moon shows the SAs and probes with 5 pings, one on sun
// shows its SAs: every program started costs seconds under emulation.
func (r *run) settle(timeout time.Duration) error {
	re := qemu.Established(r.peer.Name, r.peer.Mode)
	probe := fmt.Sprintf("ping %s count 5 interval 20", r.target)
	return waitFor("both boards show the SA and pings pass from moon", timeout, time.Second, func() (bool, error) {
		mout, err := r.shells["moon"].CLI("show ipsec sa", probe)
		var cliErr *CLIError
		if err != nil && !errors.As(err, &cliErr) {
			return false, err
		}
		if !re.MatchString(mout) || !strings.Contains(mout, "5 packets transmitted, 5 received") {
			return false, nil
		}
		sout, err := r.shells["sun"].CLI("show ipsec sa")
		if err != nil || !re.MatchString(sout) {
			return false, err
		}
		r.last["moon"], r.last["sun"] = mout, sout
		return true, nil
	})
}

// settleOrHeal settles; an event whose effects outlast HealAfter is
// healed by clearing the SA on moon (start-action start initiates anew)
// and reported stuck.
func (r *run) settleOrHeal() (stuck bool, err error) {
	if err := r.settle(HealAfter); err == nil {
		return false, nil
	}
	r.logf("%s: not healed by itself within %v: clear ipsec sa %s and initiate it on moon", r.peer.Mode, HealAfter, r.peer.Name)
	if _, err := r.shells["moon"].CLI("clear ipsec sa "+r.peer.Name, "request ipsec initiate "+r.peer.Name); err != nil {
		return true, err
	}
	return true, r.settle(eventTimeout)
}
