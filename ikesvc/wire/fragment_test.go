package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestFragmentsReassemble(t *testing.T) {
	msg := sampleMessages()["IKE_AUTH request"]
	for _, tt := range []struct {
		maxLen    int
		blockSize int
	}{{200, 16}, {300, 8}, {576, 1}, {1280, 16}, {4000, 16}} {
		t.Run(itoaTest(tt.maxLen/100)+"00", func(t *testing.T) {
			c := testCipher{key: 0x44, blockSize: tt.blockSize}
			frags, err := EncodeFragments(msg, c, tt.maxLen)
			if err != nil {
				t.Fatalf("EncodeFragments: %v", err)
			}
			var decoded []*Message
			for i, f := range frags {
				if len(f) > tt.maxLen {
					t.Errorf("fragment %d is %d bytes, limit %d", i+1, len(f), tt.maxLen)
				}
				m, err := Decode(f, c)
				if err != nil {
					t.Fatalf("Decode fragment %d: %v", i+1, err)
				}
				if m.Fragment == nil || int(m.Fragment.Number) != i+1 || int(m.Fragment.Total) != len(frags) {
					t.Fatalf("fragment %d decoded as %+v", i+1, m.Fragment)
				}
				decoded = append(decoded, m)
			}
			// Deliver out of order with a duplicate.
			rng := rand.New(rand.NewPCG(uint64(tt.maxLen), 1))
			order := rng.Perm(len(decoded))
			order = append([]int{order[0]}, order...)
			var r Reassembler
			var whole *Message
			seen := map[int]bool{}
			for _, idx := range order {
				seen[idx] = true
				got, err := r.Add(decoded[idx])
				if err != nil {
					t.Fatalf("Add: %v", err)
				}
				switch {
				case got != nil && whole != nil:
					t.Fatal("message completed twice (a duplicate re-completed it)")
				case got != nil && len(seen) != len(decoded):
					t.Fatalf("complete after %d of %d fragments", len(seen), len(decoded))
				case got != nil:
					whole = got
				}
			}
			if whole == nil {
				t.Fatal("never completed")
			}
			if !reflect.DeepEqual(whole.Protected, msg.Protected) || whole.MessageID != msg.MessageID {
				t.Errorf("reassembled message differs:\n got %s\nwant %s", dump(whole), dump(msg))
			}
		})
	}
}

func TestReassemblerRestartsAndLimits(t *testing.T) {
	c := testCipher{key: 1, blockSize: 16}
	frag := func(id uint32, maxLen int) []*Message {
		m := *sampleMessages()["IKE_AUTH request"]
		m.MessageID = id
		raw, err := EncodeFragments(&m, c, maxLen)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]*Message, len(raw))
		for i, f := range raw {
			if out[i], err = Decode(f, c); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	t.Run("newer message ID restarts", func(t *testing.T) {
		var r Reassembler
		old, cur := frag(1, 300), frag(2, 300)
		if m, _ := r.Add(old[0]); m != nil {
			t.Fatal("complete after one fragment")
		}
		var got *Message
		for _, f := range cur {
			got, _ = r.Add(f)
		}
		if got == nil || got.MessageID != 2 {
			t.Fatalf("got %v, want message 2", got)
		}
	})
	t.Run("older fragments ignored", func(t *testing.T) {
		var r Reassembler
		cur, old := frag(5, 300), frag(4, 300)
		r.Add(cur[0])
		for _, f := range old {
			if m, err := r.Add(f); m != nil || err != nil {
				t.Fatalf("old fragment gave %v, %v", m, err)
			}
		}
	})
	t.Run("larger total restarts (re-fragmented smaller)", func(t *testing.T) {
		var r Reassembler
		big, small := frag(3, 600), frag(3, 200)
		r.Add(big[0])
		var got *Message
		for _, f := range small {
			got, _ = r.Add(f)
		}
		if got == nil {
			t.Fatal("smaller fragments never completed")
		}
	})
	t.Run("fragment count limit", func(t *testing.T) {
		r := Reassembler{MaxFragments: 2}
		if _, err := r.Add(frag(1, 200)[0]); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Add = %v, want ErrTooLarge", err)
		}
	})
	t.Run("byte limit", func(t *testing.T) {
		r := Reassembler{MaxBytes: 300}
		var err error
		for _, f := range frag(1, 200) {
			if _, err = r.Add(f); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("Add = %v, want ErrTooLarge", err)
		}
	})
	t.Run("not a fragment", func(t *testing.T) {
		var r Reassembler
		if _, err := r.Add(&Message{}); err == nil {
			t.Error("Add accepted a message without a fragment")
		}
	})
	t.Run("impossible numbering", func(t *testing.T) {
		var r Reassembler
		for _, f := range []Fragment{{Number: 0, Total: 1}, {Number: 3, Total: 2}, {Number: 1, Total: 0}} {
			if _, err := r.Add(&Message{Fragment: &f}); !errors.Is(err, ErrInvalidSyntax) {
				t.Errorf("fragment %d of %d: %v, want ErrInvalidSyntax", f.Number, f.Total, err)
			}
		}
	})
}

func TestEncodeFragmentsRejects(t *testing.T) {
	c := testCipher{key: 1, blockSize: 16}
	if _, err := EncodeFragments(sampleMessages()["IKE_SA_INIT request"], c, 1000); err == nil {
		t.Error("cleartext message fragmented")
	}
	if _, err := EncodeFragments(sampleMessages()["IKE_AUTH request"], c, 60); !errors.Is(err, ErrTooLarge) {
		t.Errorf("tiny limit: %v, want ErrTooLarge", err)
	}
	// Bad fragment numbers are syntax errors.
	raw, _ := EncodeFragments(sampleMessages()["IKE_AUTH request"], c, 300)
	bad := bytes.Clone(raw[0])
	bad[HeaderLen+4], bad[HeaderLen+5] = 0, 0 // fragment number 0
	if _, err := Decode(bad, c); !errors.Is(err, ErrInvalidSyntax) {
		t.Errorf("fragment 0: %v, want ErrInvalidSyntax", err)
	}
}
