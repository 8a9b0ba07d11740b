package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"alixsec.dev/ikesvc/control"
)

// savingDaemon is one run of ikesvc with a stand-in kernel that outlives
// it (-kernel memory-file) and a state file in RAM.
type savingDaemon struct {
	*daemonProc
	cancel context.CancelFunc
	once   sync.Once
	code   int
}

// stop is SIGTERM: it returns the exit code.
func (d *savingDaemon) stop() int {
	d.once.Do(func() {
		d.cancel()
		d.code = <-d.done
	})
	return d.code
}

// startSaving runs node's ikesvc (files named after node in dir and ram;
// run names this process's socket).
func startSaving(t *testing.T, dir, ram, node, instance string, config, listen string, port, natt uint16) *savingDaemon {
	t.Helper()
	cfgPath := filepath.Join(dir, node+".set")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &savingDaemon{daemonProc: &daemonProc{control: filepath.Join(dir, instance+".sock"), stderr: &syncBuffer{}, done: make(chan int, 1)}, cancel: cancel}
	args := []string{"-config", cfgPath, "-kernel", "memory-file:" + filepath.Join(dir, node+".xfrm"),
		"-state", filepath.Join(ram, node+".state"), "-control", d.control, "-listen", listen,
		"-port", fmt.Sprint(port), "-natt-port", fmt.Sprint(natt), "-v"}
	go func() { d.done <- run(ctx, args, &bytes.Buffer{}, d.stderr) }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("%s:\n%s", instance, d.stderr.String())
		}
	})
	waitFor(t, instance+"'s control socket", func() bool { _, err := d.show(t); return err == nil })
	return d
}

func ramDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "ikesvc-test-")
	if err != nil {
		t.Skipf("no tmpfs at /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func oneSA(t *testing.T, d *savingDaemon) (control.IKESA, bool) {
	sas, err := d.show(t)
	if err != nil || len(sas) != 1 || sas[0].State != "established" || len(sas[0].Children) != 1 {
		return control.IKESA{}, false
	}
	return sas[0], true
}

// TestDaemonRestartKeepsSAs: SIGTERM leaves the SAs in the kernel and the
// state in RAM, the next run continues them (same SPIs); a damaged state
// file is discarded with one line and the peer is re-keyed.
func TestDaemonRestartKeepsSAs(t *testing.T) {
	port, natt := freePorts(t)
	dir, ram := t.TempDir(), ramDir(t)
	p := newHostPKI(t)
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	cfgA, cfgB := p.hostConfig(t, "a", a, "b", b, "start"), p.hostConfig(t, "b", b, "a", a, "none")
	db := startSaving(t, dir, ram, "b", "b", cfgB, b.String(), port, natt)
	da := startSaving(t, dir, ram, "a", "a1", cfgA, a.String(), port, natt)
	var first control.IKESA
	waitFor(t, "the SAs", func() bool {
		var ok, okB bool
		first, ok = oneSA(t, da)
		_, okB = oneSA(t, db)
		return ok && okB
	})
	if code := da.stop(); code != 0 {
		t.Fatalf("a exited %d", code)
	}
	if sb, ok := oneSA(t, db); !ok || sb.SPIi != first.SPIi {
		t.Fatalf("b lost the SA while a was down: %+v", sb)
	}
	da = startSaving(t, dir, ram, "a", "a2", cfgA, a.String(), port, natt)
	waitFor(t, "the continued SA", func() bool { _, ok := oneSA(t, da); return ok })
	now, _ := oneSA(t, da)
	if now.SPIi != first.SPIi || now.SPIr != first.SPIr || now.Children[0].InSPI != first.Children[0].InSPI {
		t.Fatalf("not the same SAs after the restart:\n%+v\n%+v", first, now)
	}
	if !strings.Contains(da.stderr.String(), "continuing 1 IKE SAs") {
		t.Error("a does not say it continued the SA")
	}
	// A damaged state file: one line, a new IKE SA, b drops the old one.
	da.stop()
	if err := os.WriteFile(filepath.Join(ram, "a.state"), []byte("alixsec-ikesvc-state 1 3 00\nabc"), 0o600); err != nil {
		t.Fatal(err)
	}
	da = startSaving(t, dir, ram, "a", "a3", cfgA, a.String(), port, natt)
	waitFor(t, "a new IKE SA on both ends", func() bool {
		sa, ok := oneSA(t, da)
		sb, okB := oneSA(t, db)
		return ok && okB && sa.SPIi != first.SPIi && sb.SPIi == sa.SPIi
	})
	if n := strings.Count(da.stderr.String(), "discarded"); n != 1 {
		t.Errorf("%d lines about the discarded state, want 1:\n%s", n, da.stderr.String())
	}
}

// TestStateFileMustBeInRAM: -state on a disk is refused at start.
func TestStateFileMustBeInRAM(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "x.set")
	p := newHostPKI(t)
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	if err := os.WriteFile(cfg, []byte(p.hostConfig(t, "a", a, "b", b, "none")), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-config", cfg, "-kernel", "memory", "-state", "/nonexistent/ikesvc.state"}, &bytes.Buffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "state file /nonexistent/ikesvc.state") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
