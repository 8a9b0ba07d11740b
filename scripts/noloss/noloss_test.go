package noloss

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"alixsec.dev/scripts/interop"
)

// The shared test PKI is issued once in TestMain; skipReason says why the
// QEMU test cannot run.
var (
	testPKI    *interop.PKI
	pkiErr     error
	skipReason string
	imagePath  string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	out := os.Getenv("ALIXSEC_OUT")
	if out == "" {
		skipReason = "ALIXSEC_OUT not set: run `make test`, which builds the images first"
		return m.Run()
	}
	imagePath = filepath.Join(out, "qemu.img")
	dir, err := os.MkdirTemp("", "noloss-pki-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := interop.RepoRoot()
	if err == nil {
		testPKI, err = interop.NewPKI(ctx, root, filepath.Join(dir, "pki"))
	}
	pkiErr = err
	return m.Run()
}

// TestNoLoss boots moon and sun once and runs Measure (make test: the lean
// sequence, OneEach and 40 commits; make noloss: all of it): in transport and
// in tunnel mode, moon pings sun every 10 ms through every event of the
// issue (5 CHILD_SA rekeys, 2 IKE SA rekeys, a reauthentication, 2
// SIGKILLs and 2 clean restarts of ikesvc on each board, a configsvc
// restart and an unrelated commit on each) and must lose nothing, not
// even in the quiet baseline window; then moon reboots and both lose
// power (figures only), and after 300 random commits on moon and the real
// config, both kernels must hold exactly the one CHILD_SA's SAs and
// policies.
func TestNoLoss(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if _, err := os.Stat(imagePath); err != nil {
		t.Fatalf("ALIXSEC_OUT is set but the image is missing: %v", err)
	}
	if pkiErr != nil {
		t.Fatalf("test PKI: %v", pkiErr)
	}
	// Events set here, not left to Measure's default, so that the check
	// below knows how many must have run.
	cfg := Config{Image: imagePath, PKI: testPKI, Dir: t.TempDir(), Logf: t.Logf, Events: Events()}
	// make test runs the lean sequence; make noloss the whole one.
	if os.Getenv("ALIXSEC_NOLOSS") != "full" {
		cfg.Events, cfg.Quiet, cfg.Churn = OneEach(), 6*time.Second, 40
		t.Logf("lean run: every kind of event once, %d random commits (ALIXSEC_NOLOSS=full: the whole sequence)", cfg.Churn)
	}
	start := time.Now()
	f, pair, err := Measure(cfg)
	if pair != nil {
		defer pair.Close()
	}
	if f != nil {
		for _, res := range f.Modes {
			checkResult(t, res, len(cfg.Events))
		}
		for _, d := range f.KernelLeftover {
			t.Errorf("after the churn: %s", d)
		}
		t.Logf("figures: first boot %v, reboot to pings %.2f s, power-on to ping %v, churn %d commits in %v, real config's SAs up %v after its commit",
			f.FirstBoot.Round(time.Second), f.RebootToPings, f.PowerOnToPing.Round(100*time.Millisecond),
			f.ChurnCommits, f.ChurnTook.Round(time.Second), f.ChurnToSAs.Round(100*time.Millisecond))
	}
	if err != nil {
		t.Error(err)
	}
	if t.Failed() && pair != nil {
		t.Logf("consoles:\n%s", pair.Logs())
	}
	t.Logf("TestNoLoss total %v", time.Since(start).Round(time.Second))
}

// checkResult asserts 0 lost in every window of one mode's run, and that
// every event ran.
func checkResult(t *testing.T, res *Result, events int) {
	t.Helper()
	mode := res.Peer.Mode
	t.Logf("%s: %d sent, %d received, %d lost in all", mode, res.Ping.Sent, res.Ping.Received, res.Ping.Lost())
	if res.Baseline != 0 {
		t.Errorf("%s: %d lost in the %v before any event: the emulator, not the firmware, loses packets", mode, res.Baseline, res.Quiet)
	}
	for _, e := range res.Events {
		switch {
		case e.Unsupported():
			t.Errorf("%s: %s on %s: %v", mode, e.Kind, e.Board, e.Err)
		case e.Stuck:
			t.Errorf("%s: %s on %s: traffic did not come back by itself within %v (%d lost until moon cleared the SA)", mode, e.Kind, e.Board, HealAfter, e.Lost)
		case e.Lost != 0:
			t.Errorf("%s: %s on %s lost %d packets (%.2f s at 10 ms)", mode, e.Kind, e.Board, e.Lost, float64(e.Lost)*PingInterval.Seconds())
		}
	}
	if len(res.Events) != events {
		t.Errorf("%s: %d of %d events ran", mode, len(res.Events), events)
	}
}
