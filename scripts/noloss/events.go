package noloss

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kinds of events, in the order the run goes through them.
const (
	ChildRekey       = "CHILD_SA rekey"
	IKERekey         = "IKE SA rekey"
	Reauth           = "reauthentication"
	IkesvcKill       = "ikesvc SIGKILL"
	IkesvcRestart    = "ikesvc restart (SIGTERM)"
	ConfigsvcRestart = "configsvc restart"
	UnrelatedCommit  = "commit of an unrelated setting"
)

// Kinds lists the event kinds in their order.
var Kinds = []string{ChildRekey, IKERekey, Reauth, IkesvcKill, IkesvcRestart, ConfigsvcRestart, UnrelatedCommit}

// Event is one thing done to one board.
type Event struct {
	Kind  string
	Board string // moon or sun
}

// Events is the list: 5 CHILD_SA rekeys, 2 IKE SA rekeys, 1
// reauthentication, 2 SIGKILLs and 2 clean restarts of ikesvc on each
// board, a restart of configsvc and a commit of an unrelated setting
// (on each board). Rekeys alternate the side that asks.
func Events() []Event {
	var evs []Event
	add := func(kind string, boards ...string) {
		for _, b := range boards {
			evs = append(evs, Event{kind, b})
		}
	}
	add(ChildRekey, "moon", "sun", "moon", "sun", "moon")
	add(IKERekey, "moon", "sun")
	add(Reauth, "moon")
	add(IkesvcKill, "moon", "sun", "moon", "sun")
	add(IkesvcRestart, "moon", "sun", "moon", "sun")
	add(ConfigsvcRestart, "moon", "sun")
	add(UnrelatedCommit, "moon", "sun")
	return evs
}

// OneEach is every kind of event once, the two boards taking turns, and
// a SIGKILL of each: the lean run `make test` makes (Events is the
// issue's whole list, for make noloss).
func OneEach() []Event {
	return []Event{
		{ChildRekey, "moon"}, {IKERekey, "sun"}, {Reauth, "moon"},
		{IkesvcKill, "sun"}, {IkesvcKill, "moon"}, {IkesvcRestart, "moon"},
		{ConfigsvcRestart, "sun"}, {UnrelatedCommit, "moon"},
	}
}

// errUnsupported marks an event the firmware refused as not implemented.
var errUnsupported = errors.New("not supported by this firmware")

// spis are the SPIs `show ipsec sa` lists for a peer: its IKE SAs' and
// its CHILD_SAs' inbound ones.
type spis struct{ ike, child []string }

var (
	ikeSPIs   = regexp.MustCompile(`(?m)^  SPIs   (\S+_i \S+_r)`)
	childSPIs = regexp.MustCompile(`(?m)^    in  ([0-9a-f]{8})  `)
)

func parseSPIs(show string) spis {
	var s spis
	for _, m := range ikeSPIs.FindAllStringSubmatch(show, -1) {
		s.ike = append(s.ike, m[1])
	}
	for _, m := range childSPIs.FindAllStringSubmatch(show, -1) {
		s.child = append(s.child, m[1])
	}
	return s
}

// replaced reports whether none of old is in now and now is not empty:
// a rekey finished (the new SA is up, the old one deleted).
func replaced(old, now []string) bool {
	if len(now) == 0 {
		return false
	}
	for _, o := range old {
		for _, n := range now {
			if o == n {
				return false
			}
		}
	}
	return true
}

// waitFor polls cond every interval up to timeout.
func waitFor(what string, timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s: not seen after %v: %w", what, timeout, err)
			}
			return fmt.Errorf("%s: not seen after %v", what, timeout)
		}
		time.Sleep(interval)
	}
}

// eventTimeout bounds how long one event's own action may take (a rekey
// to finish, a service to run again).
const eventTimeout = 150 * time.Second

// do performs ev and waits until what it started has finished: the rekey
// replaced the SAs, the restarted service runs again with a new PID.
func (r *run) do(ev Event, n int) error {
	s := r.shells[ev.Board]
	switch ev.Kind {
	case ChildRekey, IKERekey, Reauth:
		kind := map[string]string{ChildRekey: "child", IKERekey: "ike", Reauth: "reauth"}[ev.Kind]
		before := parseSPIs(r.last[ev.Board])
		if out, err := s.CLI("request ipsec rekey " + r.peer.Name + " " + kind); err != nil {
			if strings.Contains(out, "not implemented") || strings.Contains(out, "unknown command") {
				return fmt.Errorf("%w: %s", errUnsupported, strings.TrimSpace(out))
			}
			return err
		}
		return waitFor(ev.Board+": "+ev.Kind+" done", eventTimeout, time.Second, func() (bool, error) {
			show, err := s.CLI("show ipsec sa")
			if err != nil {
				return false, err
			}
			now := parseSPIs(show)
			if ev.Kind == ChildRekey {
				return replaced(before.child, now.child), nil
			}
			// A reauthentication replaces the CHILD_SAs too.
			return replaced(before.ike, now.ike) && (ev.Kind == IKERekey || replaced(before.child, now.child)), nil
		})
	case IkesvcKill, IkesvcRestart, ConfigsvcRestart:
		prog, sig := "ikesvc", "-9"
		switch ev.Kind {
		case IkesvcRestart:
			sig = "-15"
		case ConfigsvcRestart:
			prog, sig = "configsvc", "-15"
		}
		return s.Signal(prog, sig, eventTimeout)
	case UnrelatedCommit:
		tag := fmt.Sprintf("noloss-%d", n)
		_, err := s.CLI("configure", "set system description "+tag, "commit "+tag, "exit")
		return err
	}
	return fmt.Errorf("unknown event kind %q", ev.Kind)
}
