package ike

import (
	"testing"

	"alixsec.dev/ikesvc/kernel"
)

// BenchmarkHandshake measures one full IKE_SA_INIT + IKE_AUTH with the
// first CHILD_SA installed on both ends (ECDSA P-256 certificates through
// an intermediate, P-256 DH, both engines in this process).
func BenchmarkHandshake(b *testing.B) {
	for _, tc := range []struct{ name, ike string }{
		{"ecdsa-ecp256", "aes128gcm16-prfsha256-ecp256"},
		{"ecdsa-x25519", "aes128gcm16-prfsha256-x25519"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := newPair(b, pairOpts{mode: kernel.ModeTransport, aIKE: tc.ike, bIKE: tc.ike})
			quiet := Logger{Verbosef: func(string, ...any) {}, Errorf: func(f string, a ...any) { b.Errorf(f, a...) }}
			p.a.engine.log, p.b.engine.log = quiet, quiet
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.b.engine.SetPeers([]PeerConfig{p.pb}); err != nil {
					b.Fatal(err)
				}
				if _, err := p.a.engine.SetPeers([]PeerConfig{p.pa}); err != nil {
					b.Fatal(err)
				}
				p.net.run(b)
				if st := p.a.only(b); st.State != "established" || len(st.Children) != 1 {
					b.Fatalf("not established: %+v", st)
				}
				// Remove the peers (one Delete exchange) for the next round.
				p.a.engine.SetPeers(nil)
				p.b.engine.SetPeers(nil)
				p.net.run(b)
			}
		})
	}
}
