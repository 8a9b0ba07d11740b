package wire

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// seedCorpus returns encoded sample messages, fragments, and the real
// messages captured from strongSwan's charon in testdata/real (see
// testdata/real/README).
func seedCorpus(tb testing.TB) [][]byte {
	c := testCipher{key: 0x77, blockSize: 16}
	var seeds [][]byte
	for _, m := range sampleMessages() {
		b, err := m.Encode(c)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	frags, err := EncodeFragments(sampleMessages()["IKE_AUTH request"], c, 256)
	if err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, frags...)
	files, _ := filepath.Glob("testdata/real/*.bin")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzDecode checks that Decode never panics, and that whatever it accepts
// re-encodes to bytes that decode and re-encode identically.
func FuzzDecode(f *testing.F) {
	for _, s := range seedCorpus(f) {
		f.Add(s)
	}
	c := testCipher{key: 0x77, blockSize: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(bytes.Clone(data), c)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message with error %v", err)
			}
			return
		}
		if m.Fragment != nil {
			var r Reassembler
			r.Add(m) // must not panic
			return
		}
		enc, err := m.Encode(c)
		if err != nil {
			return // e.g. a TS payload whose selectors were all of unknown types
		}
		m2, err := Decode(bytes.Clone(enc), c)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		enc2, err := m2.Encode(c)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %v", err)
		}
	})
}
