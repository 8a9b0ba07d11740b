package noloss

import (
	"strings"
	"testing"

	"alixsec.dev/configsvc/model"
)

// TestChurnLinesApply: every generated line is one the config model
// accepts in order (so no commit of the churn fails on a typo), there are
// n commits, both families and both modes occur, and after each commit
// every tunnel peer has traffic selectors and every peer an identity.
func TestChurnLinesApply(t *testing.T) {
	real := Peer{Name: "n4", Mode: "tunnel"}
	c := &model.Config{}
	for _, l := range real.Lines(Moon4, Sun4, "C=CH, O=alixsec interop, CN=sun", true) {
		apply(t, c, l)
	}
	lines := Churn(1, 300, real, Moon4, Sun4)
	if lines[0] != "configure" || lines[len(lines)-1] != "exit" {
		t.Fatalf("churn does not run in one configure session: %q ... %q", lines[0], lines[len(lines)-1])
	}
	commits, v4, v6, tunnels, transports, realChanges := 0, 0, 0, 0, 0, 0
	for _, l := range lines[1 : len(lines)-1] {
		if strings.HasPrefix(l, "commit ") {
			commits++
			for name, p := range c.IPsec.Peers {
				if p.Mode == model.ModeTunnel && (len(p.LocalTS) == 0 || len(p.RemoteTS) == 0) {
					t.Fatalf("commit %d: tunnel peer %s without traffic selectors", commits, name)
				}
				if p.RemoteID == "" && p.RemoteIDPattern == "" {
					t.Fatalf("commit %d: peer %s without identity", commits, name)
				}
			}
			continue
		}
		apply(t, c, l)
		switch {
		case strings.HasSuffix(l, " mode tunnel"):
			tunnels++
		case strings.HasSuffix(l, " mode transport"):
			transports++
		}
		if strings.Contains(l, " address 10.200.") {
			v4++
		}
		if strings.Contains(l, " address fd99:") {
			v6++
		}
		if strings.HasPrefix(l, "set ipsec peer n4 ") || strings.HasPrefix(l, "delete ipsec peer n4 ") {
			realChanges++
		}
		if strings.ContainsAny(l, `'\%`) {
			t.Errorf("line %q holds a character the shell's printf would mangle", l)
		}
	}
	if commits != 300 {
		t.Errorf("%d commits, want 300", commits)
	}
	for what, n := range map[string]int{"IPv4 peers": v4, "IPv6 peers": v6, "tunnel modes": tunnels, "transport modes": transports, "changes of the real peer": realChanges} {
		if n < 10 {
			t.Errorf("only %d %s in 300 commits", n, what)
		}
	}
	// Deterministic: the same seed, the same churn.
	if again := Churn(1, 300, real, Moon4, Sun4); strings.Join(again, "\n") != strings.Join(lines, "\n") {
		t.Error("Churn is not deterministic for a seed")
	}
}

func apply(t *testing.T, c *model.Config, line string) {
	t.Helper()
	words, err := model.SplitWords(line)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	switch words[0] {
	case "set":
		err = c.Set(words[1:])
	case "delete":
		err = c.Delete(words[1:])
	default:
		t.Fatalf("unexpected line %q", line)
	}
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
}
