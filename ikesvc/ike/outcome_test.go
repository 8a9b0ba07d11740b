package ike

import (
	"context"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// TestInitiateOutcome: the outcome reported for an initiation is what
// happened, in words: the algorithms when both SAs are up, the peer's
// error notify, the authentication failure or the silence otherwise.
func TestInitiateOutcome(t *testing.T) {
	tests := []struct {
		name    string
		opts    pairOpts
		prepare func(p *pair) // before initiating
		after   func(p *pair) // after initiating, before the network runs
		wait    time.Duration // clock advanced after the network ran
		want    string        // Outcome.String()
		ok      bool
	}{
		{name: "established", opts: pairOpts{mode: kernel.ModeTransport},
			want: "established IKE SA aes128gcm16-prfsha256-ecp256, CHILD_SA aes128-sha256-noesn", ok: true},
		{name: "IKE proposal mismatch", opts: pairOpts{aIKE: "aes256gcm16-prfsha384-ecp384", bIKE: "aes128-sha256-modp3072"},
			want: "failed: peer answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN"},
		{name: "ESP proposal mismatch", opts: pairOpts{mode: kernel.ModeTransport, aESP: "aes256gcm16", bESP: "aes128-sha256"},
			want: "established IKE SA aes128gcm16-prfsha256-ecp256, but no CHILD_SA: peer answered NO_PROPOSAL_CHOSEN"},
		{name: "we are revoked", opts: pairOpts{revokeA: true},
			want: "failed: the peer rejected our authentication (AUTHENTICATION_FAILED)"},
		{name: "the responder is revoked", opts: pairOpts{revokeB: true},
			want: "failed: authentication of the responder failed: certificate "},
		{name: "no answer", opts: pairOpts{mode: kernel.ModeTransport},
			prepare: func(p *pair) { p.net.drop = func(datagram) bool { return true } }, wait: time.Minute,
			want: "failed: IKE_SA_INIT request got no answer after 5 retransmissions"},
		{name: "terminated during the handshake", opts: pairOpts{mode: kernel.ModeTransport},
			after: func(p *pair) { p.a.engine.Terminate("b") },
			want:  "failed: the IKE SA was closed before it was established (terminated or reconfigured)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tt.opts)
			p.pa.StartAction = StartNone // only the initiation under test
			p.start(t)
			if tt.prepare != nil {
				tt.prepare(p)
			}
			var got []Outcome
			if err := p.a.engine.initiateNotify("b", func(o Outcome) { got = append(got, o) }); err != nil {
				t.Fatal(err)
			}
			if tt.after != nil {
				tt.after(p)
			}
			p.net.run(t)
			p.advance(t, tt.wait)
			if len(got) != 1 {
				t.Fatalf("%d outcomes %v, want exactly one", len(got), got)
			}
			if s := got[0].String(); !strings.HasPrefix(s, tt.want) || got[0].OK() != tt.ok || got[0].Peer != "b" {
				t.Errorf("outcome %q (OK %v, peer %q), want %q (OK %v, peer b)", s, got[0].OK(), got[0].Peer, tt.want, tt.ok)
			}
		})
	}
}

// TestInitiateWait: the blocking form returns the handshake's outcome, an
// established peer's at once, and a timeout says so.
func TestInitiateWait(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.pa.StartAction = StartNone
	p.start(t)
	result := make(chan Outcome, 1)
	go func() {
		o, err := p.a.engine.InitiateWait(context.Background(), "b")
		if err != nil {
			t.Error(err)
		}
		result <- o
	}()
	// Deliver until the waiter has its answer (the first IKE_SA_INIT is
	// sent from InitiateWait's goroutine).
	var o Outcome
	for deadline := time.Now().Add(10 * time.Second); ; {
		p.net.run(t)
		select {
		case o = <-result:
		case <-time.After(10 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatal("InitiateWait did not return")
		}
		break
	}
	if !o.OK() {
		t.Fatalf("outcome %v, want established", o)
	}
	o, err := p.a.engine.InitiateWait(context.Background(), "b")
	if err != nil || !o.OK() {
		t.Errorf("second InitiateWait on the established peer: %v, %v", o, err)
	}

	q := newPair(t, pairOpts{mode: kernel.ModeTransport})
	q.pa.StartAction = StartNone
	q.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o, err = q.a.engine.InitiateWait(ctx, "b") // nobody delivers the packets
	if err != nil || o.OK() || !strings.Contains(o.String(), "no result in time") {
		t.Errorf("timed out InitiateWait: %v, %v", o, err)
	}
	if _, err := q.a.engine.InitiateWait(ctx, "nosuch"); err == nil {
		t.Errorf("InitiateWait of an unknown peer succeeded")
	}
}
