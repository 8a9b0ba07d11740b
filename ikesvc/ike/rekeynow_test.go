package ike

import (
	"errors"
	"testing"

	"alixsec.dev/ikesvc/kernel"
)

func TestRekeyNow(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	before := p.a.only(t)
	for _, side := range []struct {
		ep   *endpoint
		peer string
	}{{p.a, "b"}, {p.b, "a"}} {
		if err := side.ep.engine.Rekey(side.peer); err != nil {
			t.Fatal(err)
		}
		p.net.run(t)
		p.settle(t)
		p.checkUp(t, kernel.ModeTransport)
	}
	after := p.a.only(t)
	if after.Children[0].InSPI == before.Children[0].InSPI || after.SPIi != before.SPIi {
		t.Fatalf("not rekeyed on the same IKE SA: %+v -> %+v", before, after)
	}
	if err := p.a.engine.Rekey("nope"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Rekey of an unknown peer: %v", err)
	}
}
