package interop

import (
	"testing"
	"time"
)

// TestIkesvcInitiateOutcome: `ikesvc -control S initiate PEER` between two
// real ikesvc processes (namespaces, UDP) waits for the handshake and
// prints how it ended: the algorithms, or the responder's refusal in
// words, with a non-zero exit status. Moon initiates only when asked; sun
// responds with the proposals of each case.
func TestIkesvcInitiateOutcome(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	cases := []struct {
		name     string
		sunIKE   string
		sunESP   string
		want     string // the whole output line
		wantFail bool
	}{
		{"established", testIKEProposal, testESPProposal, "sun: established IKE SA aes128-sha256-prfsha256-curve25519, CHILD_SA aes128-sha256-noesn\n", false},
		{"IKE proposal mismatch", "aes256-sha384-ecp384", testESPProposal, "sun: failed: peer answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN\n", true},
		{"ESP proposal mismatch", testIKEProposal, "aes256gcm16", "sun: established IKE SA aes128-sha256-prfsha256-curve25519, but no CHILD_SA: peer answered NO_PROPOSAL_CHOSEN\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			pair := newPair(t, "moon", "sun")
			ma, sa := pair.A.IPv4, pair.B.IPv4
			moonCfg, err := IkesvcConfig(p.Hosts[HostMoon], IkesvcPeer{Name: "sun", Local: ma, Remote: sa, Initiate: true, OnRequest: true,
				RemotePattern: HostPattern, IKEProposal: testIKEProposal, ESPProposal: testESPProposal})
			if err != nil {
				t.Fatal(err)
			}
			sunCfg, err := IkesvcConfig(p.Hosts[HostSun], IkesvcPeer{Name: "moon", Local: sa, Remote: ma,
				RemotePattern: HostPattern, IKEProposal: c.sunIKE, ESPProposal: c.sunESP})
			if err != nil {
				t.Fatal(err)
			}
			startIkesvc(t, bin, pair.B, sunCfg)
			moon := startIkesvc(t, bin, pair.A, moonCfg)
			start := time.Now()
			out, err := moon.Initiate(ctx, "sun", 30*time.Second)
			if (err != nil) != c.wantFail || out != c.want {
				t.Errorf("initiate printed %q, error %v; want %q and failure=%v", out, err, c.want, c.wantFail)
			}
			t.Logf("initiate returned after %v: %s", time.Since(start).Round(time.Millisecond), out)
		})
	}
}
