package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIkesvcHelpers runs the ikesvc helpers (build check, start in a
// namespace, show, stop) against testdata/fakeikesvc, a stand-in with
// ikesvc's command line, so they are proven before ikesvc exists.
func TestIkesvcHelpers(t *testing.T) {
	p := requireRoot(t)
	ctx := testContext(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "fakeikesvc")
	if _, err := runIn(ctx, root, "go", "build", "-o", bin, "./scripts/interop/testdata/fakeikesvc"); err != nil {
		t.Fatal(err)
	}
	// BuildIkesvc's -config check, on a binary that has it and one that
	// does not (true ignores -h and prints nothing).
	if err := checkConfigFlag(ctx, bin); err != nil {
		t.Errorf("fakeikesvc: %v", err)
	}
	if err := checkConfigFlag(ctx, "true"); err == nil || !strings.Contains(err.Error(), "no -config flag") {
		t.Errorf("true: err = %v, want a missing -config complaint", err)
	}

	pair := newPair(t, "ikesvc", "charon")
	cfg, err := IkesvcConfig(p.Hosts[HostMoon], IkesvcPeer{
		Name: "charon", Local: pair.A.IPv4, Remote: pair.B.IPv4, Initiate: true, RemotePattern: HostPattern,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := startIkesvc(t, bin, pair.A, cfg)
	if err := s.WaitShow(ctx, time.Second, ShowHasNoSA); err != nil {
		t.Errorf("fresh fake: %v", err)
	}
	child := &ChildSA{SPIIn: "c1d2e3f4", SPIOut: "0a0b0c0d"}
	id := p.Hosts[HostSun].ID
	if err := ShowHasSA("no SAs\n", child, id); err == nil {
		t.Errorf("ShowHasSA accepted an empty show")
	}
	text := "charon: ESTABLISHED " + id + "\n  ESP spi-in 0xC1D2E3F4 spi-out 0x0a0b0c0d\n"
	if err := os.WriteFile(s.Config+".show", []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitShow(ctx, 5*time.Second, func(show string) error { return ShowHasSA(show, child, id) }); err != nil {
		t.Error(err)
	}
	if err := ShowHasNoSA(text); err == nil {
		t.Errorf("ShowHasNoSA accepted an established SA")
	}
	if err := s.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := s.Show(ctx); err == nil {
		t.Errorf("show answered after stop")
	}
}
