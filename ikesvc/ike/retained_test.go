package ike

import (
	"fmt"
	"testing"

	"alixsec.dev/ikesvc/kernel"
)

// TestEstablishedDropsSignedMessages: once IKE_AUTH is done neither end
// keeps the raw IKE_SA_INIT messages (only AUTH needed them), and a late
// retransmission of the IKE_SA_INIT request creates no second SA.
func TestEstablishedDropsSignedMessages(t *testing.T) {
	for _, kind := range []string{"ecdsa", "rsa"} { // rsa: a fragmented IKE_AUTH
		t.Run(kind, func(t *testing.T) {
			p := newPair(t, pairOpts{kind: kind, mode: kernel.ModeTransport})
			var initRequest datagram
			p.net.drop = func(d datagram) bool {
				if initRequest.data == nil {
					initRequest = d
				}
				return false
			}
			p.start(t)
			p.checkUp(t, kernel.ModeTransport)
			for _, ep := range []*endpoint{p.a, p.b} {
				for _, sa := range ep.engine.sas {
					if sa.initRequest != nil || sa.initResponse != nil {
						t.Errorf("%s: established IKE SA %x keeps %d + %d bytes of IKE_SA_INIT", ep.name, sa.ourSPI(), len(sa.initRequest), len(sa.initResponse))
					}
					if len(sa.remoteID.Data) == 0 || len(sa.remoteChain) == 0 {
						t.Errorf("%s: established IKE SA lost the peer's identity or chain", ep.name)
					}
				}
			}
			p.b.engine.HandlePacket(initRequest.data, initRequest.from, initRequest.to)
			p.net.run(t)
			p.checkUp(t, kernel.ModeTransport)
			if n := len(p.b.engine.sas); n != 1 {
				t.Fatalf("responder holds %d IKE SAs after a late IKE_SA_INIT retransmission, want 1: %s", n, fmt.Sprint(p.b.engine.Status(t.Context())))
			}
		})
	}
}
