package ike

import (
	"errors"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// TestRekeyNow: the operator's rekey renews what was asked for, at once
// (long before the lifetimes), from either end, and refuses what it cannot.
func TestRekeyNow(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTunnel, rekey: time.Hour, tunnelNetworks: true})
	p.pa.IKERekeyTime, p.pb.IKERekeyTime = 4*time.Hour, 4*time.Hour
	p.start(t)
	p.checkUp(t, kernel.ModeTunnel)
	tests := []struct {
		ep            *endpoint
		peer          string
		kind          RekeyKind
		newIKE, newCh bool
		err           error
	}{
		{ep: p.a, peer: "b", kind: RekeyChild, newCh: true},
		{ep: p.b, peer: "a", kind: RekeyChild, newCh: true},
		{ep: p.a, peer: "b", kind: RekeyIKE, newIKE: true},
		{ep: p.b, peer: "a", kind: RekeyIKE, newIKE: true},
		{ep: p.a, peer: "b", kind: RekeyReauth, newIKE: true, newCh: true},
		{ep: p.b, peer: "a", kind: RekeyReauth, newIKE: true, newCh: true},
		{ep: p.a, peer: "nobody", kind: RekeyChild, err: ErrUnknownPeer},
		{ep: p.a, peer: "b", kind: "everything", err: errors.New("unknown kind")},
	}
	for _, tt := range tests {
		before := p.a.only(t)
		err := tt.ep.engine.Rekey(tt.peer, tt.kind)
		switch {
		case tt.err == nil && err != nil:
			t.Fatalf("%s: Rekey(%s, %s): %v", tt.ep.name, tt.peer, tt.kind, err)
		case tt.err != nil && err == nil:
			t.Fatalf("%s: Rekey(%s, %s) succeeded, want %v", tt.ep.name, tt.peer, tt.kind, tt.err)
		}
		// Replaced inbound SAs linger a few seconds for packets in flight.
		p.advance(t, 15*time.Second)
		p.checkUp(t, kernel.ModeTunnel)
		after := p.a.only(t)
		if got := after.SPIi != before.SPIi; got != tt.newIKE {
			t.Errorf("%s: Rekey(%s, %s): new IKE SA %v, want %v", tt.ep.name, tt.peer, tt.kind, got, tt.newIKE)
		}
		if got := after.Children[0].InSPI != before.Children[0].InSPI; got != tt.newCh {
			t.Errorf("%s: Rekey(%s, %s): new CHILD_SA %v, want %v", tt.ep.name, tt.peer, tt.kind, got, tt.newCh)
		}
	}
	if err := p.a.engine.Terminate("b"); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	if err := p.a.engine.Rekey("b", RekeyChild); !errors.Is(err, ErrNotEstablished) {
		t.Errorf("Rekey without an IKE SA: %v, want %v", err, ErrNotEstablished)
	}
}
