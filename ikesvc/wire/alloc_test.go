package wire

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"
)

// allocBudget is what Decode may allocate for an n-byte input: a fixed part
// for the Message and error values plus a multiple of the input. A payload
// is at least 4 bytes and its decoded struct with its interface slot is at
// most ~100 bytes on 64-bit, so 32x is the worst case for a message made
// only of minimal payloads; typical messages stay far below.
func allocBudget(n int) uint64 { return 2048 + 32*uint64(n) }

func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDecodeAllocationBounded(t *testing.T) {
	c := testCipher{key: 0x77, blockSize: 16}
	rng := rand.New(rand.NewPCG(7, 7))
	seeds := seedCorpus(t)
	inputs := make([][]byte, 0, 600)
	for i := 0; i < 200; i++ {
		// Random bytes behind a plausible header, so decoding gets past it.
		n := HeaderLen + rng.IntN(3000)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		copy(b, seeds[0][:HeaderLen])
		b[24], b[25], b[26], b[27] = 0, 0, byte(n>>8), byte(n)
		inputs = append(inputs, b)
	}
	for i := 0; i < 400; i++ {
		// Mutated real and sample messages.
		b := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for k := rng.IntN(8) + 1; k > 0; k-- {
			b[HeaderLen+rng.IntN(len(b)-HeaderLen)] = byte(rng.Uint32())
		}
		inputs = append(inputs, b)
	}
	// A worst case by construction: the longest chain of minimal payloads.
	chain := make([]byte, 0, 60000)
	for len(chain) < 60000-4 {
		chain = append(chain, byte(PayloadVendorID), 0, 0, 4)
	}
	chain[len(chain)-4] = 0
	inputs = append(inputs, cleartext(PayloadVendorID, chain))
	inputs = append(inputs, seeds...)

	var worst float64
	for _, in := range inputs {
		// Decode allocates deterministically; the minimum of a few runs filters
		// out one-time setup and allocations by other goroutines.
		got := ^uint64(0)
		for range 3 {
			buf := bytes.Clone(in)
			got = min(got, bytesAllocated(func() { Decode(buf, c) }))
		}
		if got > allocBudget(len(in)) {
			t.Errorf("Decode of %d bytes allocated %d bytes, budget %d", len(in), got, allocBudget(len(in)))
		}
		if r := float64(got) / float64(len(in)); r > worst {
			worst = r
		}
	}
	t.Logf("worst allocation ratio: %.1f bytes per input byte over %d inputs", worst, len(inputs))

	// Allocation count for a typical message stays small.
	msg := seeds[0]
	buf := make([]byte, len(msg))
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, msg)
		Decode(buf, c)
	})
	if allocs > 40 {
		t.Errorf("Decode of an IKE_SA_INIT makes %.0f allocations, want <= 40", allocs)
	}
}

func BenchmarkDecodeIKESAInit(b *testing.B) {
	msg, err := sampleMessages()["IKE_SA_INIT request"].Encode(nil)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, len(msg))
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		copy(buf, msg)
		if _, err := Decode(buf, nil); err != nil {
			b.Fatal(err)
		}
	}
}
