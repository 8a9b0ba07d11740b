package interop

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Flood test figures: the attack (sources that answer COOKIEs
// hold every half-open slot) from floodSources addresses, while the
// configured peer reconnects for floodDuration, each time within
// floodConnectLimit.
const (
	floodSources      = 500
	floodRate         = 1000 // first IKE_SA_INIT requests per second, all sources
	floodWarmup       = 3 * time.Second
	floodDuration     = 60 * time.Second
	floodConnectLimit = 2 * time.Second
)

// TestHalfOpenFlood: ikesvc as responder (node A) with a configured peer
// (ikesvc on node B) and a respond-only road-warrior entry that any
// address may try; cookieflood, in a third namespace with floodSources
// addresses on its veth, floods A with IKE_SA_INIT requests and answers
// every COOKIE but never authenticates. For floodDuration the peer
// terminates and initiates again and again: every attempt must be
// established within floodConnectLimit.
func TestHalfOpenFlood(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	ctx, cancel := context.WithTimeout(context.Background(), floodDuration+2*time.Minute)
	defer cancel()
	pair := newPair(t, "responder", "peer")
	crowd, err := NewCrowd(ctx, pair.A, floodSources)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := crowd.Close(); err != nil {
			t.Errorf("remove the crowd's namespace: %v", err)
		}
	})
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	floodBin := filepath.Join(t.TempDir(), "cookieflood")
	if _, err := runIn(ctx, root, "go", "build", "-o", floodBin, "./scripts/interop/testdata/cookieflood"); err != nil {
		t.Fatal(err)
	}

	moon, sun := p.Hosts[HostMoon], p.Hosts[HostSun]
	responderCfg := floodResponderConfig(moon, pair, sun.ID)
	resp := startIkesvc(t, bin, pair.A, responderCfg)
	peerCfg, err := IkesvcConfig(sun, IkesvcPeer{Name: "gw", Local: pair.B.IPv4, Remote: pair.A.IPv4, Initiate: true,
		RemoteID: moon.ID, IKEProposal: testIKEProposal, ESPProposal: testESPProposal})
	if err != nil {
		t.Fatal(err)
	}
	peer := startIkesvc(t, bin, pair.B, peerCfg)
	if err := peer.WaitShow(ctx, 10*time.Second, peerEstablished); err != nil {
		t.Fatalf("the peer does not come up before the flood: %v", err)
	}

	flood := exec.Command("ip", "netns", "exec", crowd.NS, floodBin,
		"-target", crowd.Gateway.String()+":500", "-from", crowd.Addrs[0].String(),
		"-count", fmt.Sprint(floodSources), "-rate", fmt.Sprint(floodRate), "-ike", testIKEProposal)
	var floodOut strings.Builder
	flood.Stdout, flood.Stderr = &floodOut, &floodOut
	flood.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	floodDone := make(chan struct{})
	go func() { _ = flood.Wait(); close(floodDone) }()
	t.Cleanup(func() { _ = stopProcess(flood, floodDone, "cookieflood") })
	time.Sleep(floodWarmup)
	show, err := resp.Show(ctx)
	if err != nil {
		t.Fatal(err)
	}
	halfOpen := strings.Count(show, "IKE SA IKE_SA_INIT_REPLIED")
	if halfOpen < 64 {
		t.Fatalf("after %v of flood the responder holds %d half-open SAs: the flood is not a flood", floodWarmup, halfOpen)
	}
	t.Logf("after %v of flood: %d half-open SAs on the responder", floodWarmup, halfOpen)

	var took []time.Duration
	var failed []string
	for end := time.Now().Add(floodDuration); time.Now().Before(end); {
		if _, err := run(ctx, bin, "-control", peer.Control, "terminate", "gw"); err != nil {
			t.Fatal(err)
		}
		if err := peer.WaitShow(ctx, 10*time.Second, func(s string) error {
			if peerEstablished(s) == nil {
				return fmt.Errorf("still established:\n%s", s)
			}
			return nil
		}); err != nil {
			t.Fatalf("terminate: %v", err)
		}
		start := time.Now()
		if _, err := run(ctx, bin, "-control", peer.Control, "initiate", "gw"); err != nil {
			t.Fatal(err)
		}
		err := peer.WaitShow(ctx, 2*floodConnectLimit, peerEstablished)
		d := time.Since(start)
		took = append(took, d)
		if err != nil || d > floodConnectLimit {
			failed = append(failed, fmt.Sprintf("attempt %d: %v (%v)", len(took), d.Round(time.Millisecond), err))
		}
	}
	if err := stopProcess(flood, floodDone, "cookieflood"); err != nil {
		t.Error(err)
	}
	var sent, cookies, sas, addrs int
	if _, err := fmt.Sscanf(strings.TrimSpace(floodOut.String()), "cookieflood: addresses=%d sent=%d cookies=%d sas=%d", &addrs, &sent, &cookies, &sas); err != nil {
		t.Fatalf("cookieflood's counts: %v in %q", err, floodOut.String())
	}
	slices.Sort(took)
	t.Logf("flood from %d addresses: %d requests, %d COOKIEs answered, %d half-open SAs made", addrs, sent, cookies, sas)
	t.Logf("peer: %d connects in %v, median %v, max %v",
		len(took), floodDuration, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	if len(failed) > 0 {
		t.Errorf("%d of %d connects failed or took over %v:\n%s", len(failed), len(took), floodConnectLimit, strings.Join(failed, "\n"))
	}
	// The cap (64) holds while most requests are dropped at it; the
	// sources keep refilling it as half-open SAs expire or are evicted.
	if cookies < 200 || sas < 200 {
		t.Errorf("the flood answered %d COOKIEs for %d requests and made %d half-open SAs: the responder was not under attack", cookies, sent, sas)
	}
	log := resp.Log()
	for _, want := range []string{"without a valid COOKIE with one", "the limit: dropping", "expired without IKE_AUTH"} {
		if !strings.Contains(log, want) {
			t.Errorf("the responder's log lacks a %q report", want)
		}
	}
	if n := strings.Count(log, "\n"); n > 200 {
		t.Errorf("the responder logged %d lines under the flood: load must be reported once a minute", n)
	}
}

// peerEstablished checks the peer's show for its IKE SA to the responder.
func peerEstablished(show string) error {
	if !strings.Contains(show, "gw: IKE SA ESTABLISHED") {
		return fmt.Errorf("no established IKE SA:\n%s", show)
	}
	return nil
}

// floodResponderConfig is the responder's config: the configured peer gw
// (peer's address, exact identity, respond only) and the road-warrior
// entry any (every address, the test PKI's DN pattern) that a flood aims at.
func floodResponderConfig(host *HostCreds, pair *Pair, peerID string) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(host.ConfigSet, "\n") + "\n")
	set := func(format string, args ...any) { fmt.Fprintf(&b, "set "+format+"\n", args...) }
	set("ipsec ike-proposal %s", testIKEProposal)
	set("ipsec esp-proposal %s", testESPProposal)
	set("ipsec peer gw address %s", pair.B.IPv4)
	set("ipsec peer gw remote-id %q", peerID)
	set("ipsec peer gw mode tunnel")
	set("ipsec peer gw local-ts %s/32", pair.A.IPv4)
	set("ipsec peer gw remote-ts %s/32", pair.B.IPv4)
	set("ipsec peer gw start-action none")
	set("ipsec peer any remote-id-pattern %q", HostPattern)
	set("ipsec peer any mode transport")
	set("ipsec peer any start-action none")
	return b.String()
}
