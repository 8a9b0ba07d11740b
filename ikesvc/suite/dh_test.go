package suite

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"math/big"
	"os/exec"
	"strings"
	"testing"
)

var allGroups = []DHGroup{DHMODP1024, DHMODP2048, DHMODP3072, DHMODP4096, DHECP256, DHECP384, DHCurve25519}

func TestKeyExchangeAgrees(t *testing.T) {
	wantLen := map[DHGroup]int{DHMODP1024: 128, DHMODP2048: 256, DHMODP3072: 384, DHMODP4096: 512, DHECP256: 64, DHECP384: 96, DHCurve25519: 32}
	secretLen := map[DHGroup]int{DHMODP1024: 128, DHMODP2048: 256, DHMODP3072: 384, DHMODP4096: 512, DHECP256: 32, DHECP384: 48, DHCurve25519: 32}
	for _, g := range allGroups {
		t.Run(g.String(), func(t *testing.T) {
			a, err := NewKeyExchange(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewKeyExchange(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if a.Group() != g || len(a.PublicKey()) != wantLen[g] {
				t.Fatalf("group %v public key %d bytes, want %v and %d", a.Group(), len(a.PublicKey()), g, wantLen[g])
			}
			ka, err := a.SharedSecret(b.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			kb, err := b.SharedSecret(a.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ka, kb) || len(ka) != secretLen[g] {
				t.Errorf("secrets differ or have the wrong length (%d, want %d)", len(ka), secretLen[g])
			}
		})
	}
}

// ECP public values are x | y (RFC 5903 7): the same point crypto/ecdh
// encodes with a 0x04 prefix.
func TestECPWireForm(t *testing.T) {
	k, err := NewKeyExchange(DHECP256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey()
	if _, err := ecdh.P256().NewPublicKey(append([]byte{4}, pub...)); err != nil {
		t.Errorf("x|y is not a P-256 point once prefixed: %v", err)
	}
}

func TestKeyExchangeRejectsRFC6989(t *testing.T) {
	mk := func(g DHGroup) KeyExchange {
		k, err := NewKeyExchange(g, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	p := modp(DHMODP2048).p
	fill := func(v *big.Int) []byte { return v.FillBytes(make([]byte, 256)) }
	one := big.NewInt(1)
	tests := []struct {
		name string
		g    DHGroup
		peer []byte
	}{
		{"MODP zero", DHMODP2048, make([]byte, 256)},
		{"MODP one", DHMODP2048, fill(one)},
		{"MODP p-1", DHMODP2048, fill(new(big.Int).Sub(p, one))},
		{"MODP p", DHMODP2048, fill(p)},
		{"MODP all ones (> p)", DHMODP2048, bytes.Repeat([]byte{0xff}, 256)},
		{"MODP short", DHMODP2048, make([]byte, 255)},
		{"MODP long", DHMODP2048, make([]byte, 257)},
		{"ECP not on curve", DHECP256, append(make([]byte, 63), 1)},
		{"ECP wrong length", DHECP256, make([]byte, 65)},
		{"ECP-384 not on curve", DHECP384, bytes.Repeat([]byte{1}, 96)},
		{"X25519 zero point", DHCurve25519, make([]byte, 32)},
		{"X25519 order-1 point u=1", DHCurve25519, append([]byte{1}, make([]byte, 31)...)},
		{"X25519 short", DHCurve25519, make([]byte, 31)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mk(tt.g).SharedSecret(tt.peer)
			var kerr *InvalidKEError
			if !errors.Is(err, ErrInvalidKE) || !errors.As(err, &kerr) || kerr.Group != tt.g {
				t.Errorf("SharedSecret = %v, want an InvalidKEError for %v", err, tt.g)
			}
		})
	}
}

func TestMODPPrimes(t *testing.T) {
	// Safe primes of the stated size, and (where this host's OpenSSL knows
	// the group by name) identical to OpenSSL's RFC 3526 parameters.
	names := map[DHGroup]string{DHMODP2048: "modp_2048", DHMODP3072: "modp_3072", DHMODP4096: "modp_4096"}
	for _, g := range []DHGroup{DHMODP1024, DHMODP2048, DHMODP3072, DHMODP4096} {
		t.Run(g.String(), func(t *testing.T) {
			grp := modp(g)
			q := new(big.Int).Rsh(grp.p, 1)
			if !grp.p.ProbablyPrime(0) || !q.ProbablyPrime(0) { // Baillie-PSW
				t.Error("p or (p-1)/2 is not prime")
			}
			if want := map[DHGroup]int{DHMODP1024: 1024, DHMODP2048: 2048, DHMODP3072: 3072, DHMODP4096: 4096}[g]; grp.p.BitLen() != want {
				t.Errorf("p has %d bits, want %d", grp.p.BitLen(), want)
			}
			name, ok := names[g]
			if !ok {
				return
			}
			params, err := exec.Command("openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:"+name).Output()
			if err != nil {
				t.Skipf("openssl not usable: %v", err)
			}
			parse := exec.Command("openssl", "asn1parse")
			parse.Stdin = bytes.NewReader(params)
			out, err := parse.Output()
			if err != nil {
				t.Fatalf("openssl asn1parse: %v", err)
			}
			if got := firstASN1Integer(string(out)); got.Cmp(grp.p) != 0 {
				t.Errorf("prime differs from OpenSSL's %s", name)
			}
		})
	}
}

// firstASN1Integer extracts the first INTEGER of `openssl asn1parse` output
// (the prime of DH parameters).
func firstASN1Integer(text string) *big.Int {
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, "INTEGER"); i >= 0 {
			if j := strings.LastIndex(line, ":"); j > i {
				if v, ok := new(big.Int).SetString(strings.TrimSpace(line[j+1:]), 16); ok {
					return v
				}
			}
		}
	}
	return new(big.Int)
}

func TestShortExponentSize(t *testing.T) {
	for g, bits := range map[DHGroup]int{DHMODP1024: 224, DHMODP2048: 256, DHMODP3072: 320, DHMODP4096: 400} {
		k, err := newMODP(g, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if k.x.BitLen() != bits {
			t.Errorf("%v exponent has %d bits, want %d", g, k.x.BitLen(), bits)
		}
	}
}

func BenchmarkKeyExchange(b *testing.B) {
	for _, g := range allGroups {
		peer, err := NewKeyExchange(g, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		// One DH per iteration as a handshake does it: generate, then agree.
		b.Run(g.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k, err := NewKeyExchange(g, rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.SharedSecret(peer.PublicKey()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
