package ike

import (
	"net/netip"
	"strings"
	"testing"

	"alixsec.dev/ikesvc/kernel"
)

// TestIdentityMismatchMessage: a peer whose certificate verifies but whose
// identity fits no configured remote-id is logged in the admin's terms:
// the identity, and every pattern that was tried, by peer name.
func TestIdentityMismatchMessage(t *testing.T) {
	tests := []struct {
		name string
		// configure sets the responder's peers; pa the initiator's.
		responder func(p *pair) []PeerConfig
		initiator func(p *pair) PeerConfig
		// wantB, wantA: the exact lines (empty: not checked).
		wantB, wantA string
	}{
		{
			name: "responder: DN patterns of two candidates",
			responder: func(p *pair) []PeerConfig {
				gw, any := p.pb, p.pb
				gw.RemoteID = matcher(t, "C=XX, O=Other, CN=*")
				any.Name, any.Remote, any.RemoteID = "roadwarrior", netip.Addr{}, matcher(t, "C=JP, O=Elsewhere, CN=*")
				return []PeerConfig{gw, any}
			},
			initiator: func(p *pair) PeerConfig { return p.pa },
			wantB:     "ike: IKE_AUTH from 192.0.2.1:500: authentication failed: no configured peer matches identity C=JP, O=Example, CN=a.example.net (patterns tried: a: C=XX, O=Other, CN=*; roadwarrior: C=JP, O=Elsewhere, CN=*)",
		},
		{
			name:      "initiator: the responder's identity",
			responder: func(p *pair) []PeerConfig { return []PeerConfig{p.pb} },
			initiator: func(p *pair) PeerConfig {
				pa := p.pa
				pa.RemoteID = matcher(t, "C=XX, O=Other, CN=*")
				return pa
			},
			wantA: "ike: peer b: IKE SA %s (IKE_AUTH sent) failed: authentication of the responder failed: no configured peer matches identity C=JP, O=Example, CN=b.example.net (patterns tried: b: C=XX, O=Other, CN=*)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, pairOpts{mode: kernel.ModeTransport})
			if _, err := p.b.engine.SetPeers(tt.responder(p)); err != nil {
				t.Fatal(err)
			}
			if _, err := p.a.engine.SetPeers([]PeerConfig{tt.initiator(p)}); err != nil {
				t.Fatal(err)
			}
			p.net.run(t)
			check := func(ep *endpoint, want string) {
				if want == "" {
					return
				}
				ep.log.mu.Lock()
				defer ep.log.mu.Unlock()
				prefix, suffix, _ := strings.Cut(want, "%s")
				for _, l := range ep.log.errors {
					if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, suffix) && !strings.Contains(l, "not bound to certificate") {
						return
					}
				}
				t.Errorf("%s logged no line %q; its errors:\n%s", ep.name, want, strings.Join(ep.log.errors, "\n"))
			}
			check(p.b, tt.wantB)
			check(p.a, tt.wantA)
		})
	}
}
