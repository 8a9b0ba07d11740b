package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestRunHeap establishes a few SA pairs in process: every pair must be
// established at both ends, none dropped by another's INITIAL_CONTACT
// (runHeap fails otherwise) and the live heap
// must have grown by a plausible amount per SA (an IKE SA with keys,
// ciphers, timers and the peer's parsed certificate is never below 1 KiB;
// a figure above 64 KiB means something per SA leaks far beyond the SA).
func TestRunHeap(t *testing.T) {
	for _, n := range []int{1, 5} {
		var out bytes.Buffer
		if err := runHeap(benchIKE, benchESP, n, "", &out); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		var res heapResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("n=%d: output %q: %v", n, out.String(), err)
		}
		if res.N != n || res.After <= res.Before {
			t.Fatalf("n=%d: implausible result %+v", n, res)
		}
		if res.PerSA < 1024 || res.PerSA > 64*1024 {
			t.Errorf("n=%d: %.0f bytes of heap per IKE SA + CHILD SA, want between 1 KiB and 64 KiB (%+v)", n, res.PerSA, res)
		}
		t.Logf("n=%d: %.0f bytes per IKE SA + CHILD SA", n, res.PerSA)
	}
}

func TestHeapAddrDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, net := range []byte{1, 2} {
		for i := range 1000 {
			a := heapAddr(net, i).String()
			if seen[a] {
				t.Fatalf("heapAddr(%d, %d) = %s twice", net, i, a)
			}
			seen[a] = true
		}
	}
}
