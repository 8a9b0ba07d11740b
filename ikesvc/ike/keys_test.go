package ike

import (
	"bytes"
	"fmt"
	"testing"

	"alixsec.dev/ikesvc/kernel"
)

// TestKeys: both ends report the same IKE keys and the two ESP SAs of the
// CHILD_SA as installed, and nothing once the SAs are gone.
func TestKeys(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	ikeA, espA := p.a.engine.Keys()
	ikeB, espB := p.b.engine.Keys()
	if len(ikeA) != 1 || len(ikeB) != 1 || len(espA) != 2 || len(espB) != 2 {
		t.Fatalf("keys: %d/%d IKE, %d/%d ESP; want 1 and 2 each", len(ikeA), len(ikeB), len(espA), len(espB))
	}
	a, b := ikeA[0], ikeB[0]
	if a.SPIi != b.SPIi || a.SPIr != b.SPIr || !bytes.Equal(a.EI, b.EI) || !bytes.Equal(a.ER, b.ER) || len(a.EI) != 20 {
		t.Errorf("the ends disagree on the IKE SA's keys (or SK_ei is not key+salt): %v / %v", a, b)
	}
	st := p.a.only(t)
	if fmt.Sprintf("%016x", a.SPIi) != st.SPIi {
		t.Errorf("SPIi %016x, status says %s", a.SPIi, st.SPIi)
	}
	installed := p.a.kernelSet(t).SAs
	for _, k := range espA {
		found := false
		for _, sa := range installed {
			found = found || (sa.SPI == k.SPI && bytes.Equal(sa.EncryptionKey, k.EncryptionKey) && sa.Dst == k.Dst)
		}
		if !found {
			t.Errorf("%v is not installed", k)
		}
	}
	if err := p.a.engine.Terminate("b"); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	if ike, esp := p.a.engine.Keys(); len(ike) != 0 || len(esp) != 0 {
		t.Errorf("after terminate: %d IKE and %d ESP keys, want none", len(ike), len(esp))
	}
}
