package ike

import (
	"testing"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// TestCookie: a responder under load answers the first IKE_SA_INIT with a
// COOKIE (RFC 7296 2.6); the initiator must repeat the request with the
// cookie as its first payload and then complete.
func TestCookie(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	cookie := []byte("0123456789abcdef")
	var inits []*wire.Message
	p.net.drop = func(d datagram) bool {
		h, err := wire.ParseHeader(d.data)
		if err != nil || h.Exchange != wire.ExchangeIKESAInit || h.IsResponse() {
			return false
		}
		m, err := wire.Decode(append([]byte(nil), d.data...), nil)
		if err != nil {
			t.Fatalf("initiator sent an undecodable IKE_SA_INIT: %v", err)
		}
		inits = append(inits, m)
		if len(inits) > 1 {
			return false
		}
		// Play the busy responder: answer with a COOKIE only.
		resp := &wire.Message{Header: wire.Header{InitiatorSPI: h.InitiatorSPI, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagResponse},
			Payloads: []wire.Payload{&wire.Notify{Type: wire.NotifyCookie, Data: cookie}}}
		b, err := resp.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		p.net.Send(b, d.to, d.from)
		return true
	}
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	if len(inits) != 2 {
		t.Fatalf("%d IKE_SA_INIT requests, want 2", len(inits))
	}
	first, ok := inits[1].Payloads[0].(*wire.Notify)
	if !ok || first.Type != wire.NotifyCookie || string(first.Data) != string(cookie) {
		t.Fatalf("second IKE_SA_INIT starts with %+v, want the COOKIE", inits[1].Payloads[0])
	}
}

// TestKernelExpire: a soft expire rekeys the CHILD_SA, a hard expire
// removes it on our side.
func TestKernelExpire(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	old := p.a.kernelSet(t).SAs[0]
	p.a.engine.HandleKernelEvent(kernel.Event{Kind: kernel.EventSoftExpire, Expire: kernel.Expire{SA: old.ID(), Reqid: old.Reqid}})
	p.net.run(t)
	p.checkUp(t, kernel.ModeTransport)
	for _, sa := range p.a.kernelSet(t).SAs {
		if sa.ID() == old.ID() {
			t.Fatalf("SA %v still installed after the soft expire's rekey", old.ID())
		}
	}
	cur := p.a.kernelSet(t).SAs[0]
	p.a.engine.HandleKernelEvent(kernel.Event{Kind: kernel.EventHardExpire, Expire: kernel.Expire{SA: cur.ID(), Reqid: cur.Reqid}})
	if ks := p.a.kernelSet(t); len(ks.SAs) != 0 {
		t.Fatalf("a keeps %d SAs after a hard expire", len(ks.SAs))
	}
	p.net.run(t)
	for _, ep := range []*endpoint{p.a, p.b} {
		if st := ep.only(t); st.State != "established" || len(st.Children) != 0 {
			t.Fatalf("%s after the hard expire: %+v", ep.name, st)
		}
		if ks := ep.kernelSet(t); len(ks.SAs) != 0 {
			t.Fatalf("%s keeps %d SAs after the hard expire", ep.name, len(ks.SAs))
		}
	}
}
