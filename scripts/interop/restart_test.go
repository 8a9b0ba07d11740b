package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/control"
)

// restartNode is one ikesvc of TestIkesvcRestartKeepsSAs: its config and
// the two files that outlive its process, the state (in RAM, /dev/shm) and
// the stand-in kernel (the host kernel has no ESP; see kernel.MemoryFile).
type restartNode struct {
	node                *Node
	config, state, xfrm string
	controlDir          string
	svc                 *Ikesvc
	logs                []string // of the earlier processes
}

func (n *restartNode) start(t *testing.T, bin string) {
	t.Helper()
	s, err := StartIkesvcArgs(testContext(t), bin, n.node, t.TempDir(), n.controlDir, n.config,
		"-kernel", "memory-file:"+n.xfrm, "-state", n.state, "-v")
	if s != nil {
		t.Cleanup(func() {
			_ = s.Stop()
			if t.Failed() {
				t.Logf("ikesvc %s log:\n%s", n.node.Name, s.Log())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	n.svc = s
}

func (n *restartNode) kill(t *testing.T) {
	t.Helper()
	if err := n.svc.Kill(); err != nil {
		t.Fatal(err)
	}
	n.logs = append(n.logs, n.svc.Log())
}

// sas is the node's `show` as data.
func (n *restartNode) sas(ctx context.Context) ([]control.IKESA, error) {
	c, err := control.Dial(n.svc.Control)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Show(ctx)
}

// one returns the node's only IKE SA, established with one CHILD_SA.
func (n *restartNode) one(ctx context.Context) (control.IKESA, error) {
	sas, err := n.sas(ctx)
	if err != nil {
		return control.IKESA{}, err
	}
	if len(sas) != 1 || sas[0].State != "established" || len(sas[0].Children) != 1 {
		return control.IKESA{}, fmt.Errorf("%s: want one established IKE SA with one CHILD_SA, have %+v", n.node.Name, sas)
	}
	return sas[0], nil
}

// kernelSAs counts the SAs in the node's stand-in kernel.
func (n *restartNode) kernelSAs(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(n.xfrm)
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ SAs []json.RawMessage }
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return len(s.SAs)
}

// pairUp waits until both nodes hold the same single IKE SA and CHILD_SA.
func pairUp(ctx context.Context, a, b *restartNode) (sa, sb control.IKESA, err error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		sa, err = a.one(ctx)
		if err == nil {
			sb, err = b.one(ctx)
		}
		if err == nil && (sa.SPIi != sb.SPIi || sa.SPIr != sb.SPIr ||
			sa.Children[0].InSPI != sb.Children[0].OutSPI || sa.Children[0].OutSPI != sb.Children[0].InSPI) {
			err = fmt.Errorf("the two ends disagree:\n%+v\n%+v", sa, sb)
		}
		if err == nil || time.Now().After(deadline) {
			return sa, sb, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIkesvcRestartKeepsSAs: two real ikesvc processes in network
// namespaces; each in turn is SIGKILLed and started again on its state
// file. The IKE SA goes on with the same SPIs (and so the same CHILD_SA,
// whose kernel entries are adopted, not re-added), then a CHILD_SA rekey
// and DPD go through it. A SIGTERM restart does the same.
func TestIkesvcRestartKeepsSAs(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	ctx := testContext(t)
	pair := newPair(t, "rsa", "rsb")
	ram, err := os.MkdirTemp("/dev/shm", "ikesvc-restart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ram) })
	moon, sun := p.Hosts[HostMoon], p.Hosts[HostSun]
	ia, ib := pair.A.IPv4, pair.B.IPv4
	cfgA, err := IkesvcConfig(moon, IkesvcPeer{Name: "sun", Local: ia, Remote: ib, Initiate: true, RemoteID: sun.ID,
		IKEProposal: testIKEProposal, ESPProposal: testESPProposal})
	if err != nil {
		t.Fatal(err)
	}
	cfgB, err := IkesvcConfig(sun, IkesvcPeer{Name: "moon", Local: ib, Remote: ia, RemoteID: moon.ID,
		IKEProposal: testIKEProposal, ESPProposal: testESPProposal})
	if err != nil {
		t.Fatal(err)
	}
	// DPD every 5 s (the minimum): liveness checks cross the restarts.
	cfgA += "set ipsec peer sun dpd-interval 5\n"
	cfgB += "set ipsec peer moon dpd-interval 5\n"
	work := t.TempDir()
	a := &restartNode{node: pair.A, config: cfgA, state: filepath.Join(ram, "a.state"), xfrm: filepath.Join(work, "a.xfrm"), controlDir: shortDir(t)}
	b := &restartNode{node: pair.B, config: cfgB, state: filepath.Join(ram, "b.state"), xfrm: filepath.Join(work, "b.xfrm"), controlDir: shortDir(t)}
	b.start(t, bin)
	a.start(t, bin)
	first, _, err := pairUp(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range []string{a.state, b.state} {
		st, err := os.Stat(fi)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", fi, st.Mode().Perm())
		}
	}
	steps := []struct {
		name    string
		node    *restartNode
		sigkill bool
		rekey   *restartNode // who rekeys the CHILD_SA afterwards
		peer    string
	}{
		{"SIGKILL initiator", a, true, a, "sun"},
		{"SIGKILL responder", b, true, a, "sun"},
		{"SIGTERM responder", b, false, b, "moon"},
	}
	ike := first
	for _, st := range steps {
		t.Logf("%s", st.name)
		if st.sigkill {
			st.node.kill(t)
		} else {
			if err := st.node.svc.Stop(); err != nil {
				t.Fatal(err)
			}
			st.node.logs = append(st.node.logs, st.node.svc.Log())
		}
		if n := st.node.kernelSAs(t); n != 2 {
			t.Fatalf("%s: the stand-in kernel holds %d SAs after the process ended, want 2", st.name, n)
		}
		began := time.Now()
		st.node.start(t, bin)
		sa, _, err := pairUp(ctx, a, b)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		t.Logf("%s: SAs continued %v after the new process started", st.name, time.Since(began).Round(time.Millisecond))
		if sa.SPIi != ike.SPIi || sa.SPIr != ike.SPIr || sa.Children[0].InSPI != ike.Children[0].InSPI {
			t.Fatalf("%s: not the same SAs after the restart:\nbefore %+v\nafter  %+v", st.name, ike, sa)
		}
		// A CHILD_SA rekey through the continued IKE SA.
		c, err := control.Dial(st.rekey.svc.Control)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Rekey(ctx, st.peer, "child")
		c.Close()
		if err != nil {
			t.Fatalf("%s: rekey: %v", st.name, err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			sa, _, err = pairUp(ctx, a, b)
			if err == nil && sa.Children[0].InSPI == ike.Children[0].InSPI {
				err = fmt.Errorf("CHILD_SA %s not rekeyed", sa.Children[0].InSPI)
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", st.name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if sa.SPIi != ike.SPIi {
			t.Fatalf("%s: the rekey replaced the IKE SA", st.name)
		}
		ike = sa
		// The old CHILD_SA leaves the kernels: one pair each.
		for _, n := range []*restartNode{a, b} {
			deadline := time.Now().Add(10 * time.Second)
			for n.kernelSAs(t) != 2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if k := n.kernelSAs(t); k != 2 {
				t.Fatalf("%s: %s kernel holds %d SAs, want 2", st.name, n.node.Name, k)
			}
		}
	}
	// Two DPD intervals on the continued SAs: both still up, and neither
	// end ever saw a message for an IKE SA it did not know.
	time.Sleep(11 * time.Second)
	if _, _, err := pairUp(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*restartNode{a, b} {
		all := strings.Join(append(n.logs, n.svc.Log()), "\n")
		for _, bad := range []string{"unknown IKE SA", "discarded"} {
			if strings.Contains(all, bad) {
				t.Errorf("%s log has %q", n.node.Name, bad)
			}
		}
		if !strings.Contains(all, "continuing 1 IKE SAs") {
			t.Errorf("%s log does not say it continued the saved SA", n.node.Name)
		}
	}
}
