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

// TestReassemblerConflictingDuplicates: a fragment that verifies but
// differs from another with its number is kept as a candidate, so a
// conflicting one that arrives first cannot keep the message from
// completing; a message whose fragments never join is final (a
// ProtectedError, INVALID_SYNTAX) only after every fragment came again
// unchanged.
func TestReassemblerConflictingDuplicates(t *testing.T) {
	c := testCipher{key: 7, blockSize: 8}
	msg := sampleMessages()["IKE_AUTH request"]
	raw, err := EncodeFragments(msg, c, 200)
	if err != nil {
		t.Fatal(err)
	}
	n := len(raw)
	if n < 4 {
		t.Fatalf("%d fragments, the test needs 4 or more", n)
	}
	decode := func(b []byte) *Message {
		t.Helper()
		m, err := Decode(bytes.Clone(b), c)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// bad re-encodes fragment k with one byte less: it verifies on its own
	// (the sender's keys) but breaks the payload chain of the join.
	bad := func(k int) *Message {
		t.Helper()
		f := decode(raw[k]).Fragment
		b, err := encodeFragment(&msg.Header, f.NextPayload, f.Number, f.Total, f.Data[:len(f.Data)-1], c)
		if err != nil {
			t.Fatal(err)
		}
		return decode(b)
	}
	real := func(i int) *Message { return decode(raw[i]) }
	type step struct {
		m *Message
		// want: "" (nothing yet), "done", "pending" or "malformed"
		want string
	}
	seq := func(ms ...*Message) []step {
		var s []step
		for _, m := range ms {
			s = append(s, step{m, ""})
		}
		return s
	}
	middle := n / 2
	var inOrder []*Message
	for i := 0; i < n; i++ {
		inOrder = append(inOrder, real(i))
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"conflict first, the real one before the end", func() []step {
			s := seq(append([]*Message{bad(middle)}, inOrder[:n-1]...)...)
			return append(s, step{real(n - 1), "done"})
		}()},
		{"conflict first, the real one last", func() []step {
			var others []*Message
			for i := 0; i < n; i++ {
				if i != middle {
					others = append(others, real(i))
				}
			}
			s := seq(append([]*Message{bad(middle)}, others[:len(others)-1]...)...)
			s = append(s, step{others[len(others)-1], "pending"})
			return append(s, step{real(middle), "done"})
		}()},
		{"conflict on fragment 1", func() []step {
			s := seq(append([]*Message{bad(0)}, inOrder[:n-1]...)...)
			return append(s, step{real(n - 1), "done"})
		}()},
		{"malformed for good after an unchanged retransmission", func() []step {
			broken := append(append([]*Message{}, inOrder[:n-1]...), bad(n-1))
			s := seq(broken[:n-1]...)
			s = append(s, step{broken[n-1], "pending"})
			s = append(s, seq(broken[:n-1]...)...)
			return append(s, step{bad(n - 1), "malformed"})
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Reassembler
			for i, s := range tt.steps {
				got, err := r.Add(s.m)
				var outcome string
				switch {
				case got != nil && err == nil:
					outcome = "done"
					if !reflect.DeepEqual(got.Protected, msg.Protected) {
						t.Fatalf("step %d: reassembled message differs:\n got %s\nwant %s", i, dump(got), dump(msg))
					}
				case errors.Is(err, ErrFragmentsPending):
					outcome = "pending"
					if _, _, ok := NotifyFor(err); ok {
						t.Errorf("step %d: a pending join would be answered", i)
					}
				case IsProtected(err):
					outcome = "malformed"
					if nt, _, ok := NotifyFor(err); !ok || nt != NotifyInvalidSyntax {
						t.Errorf("step %d: final error %v maps to %v, %v; want INVALID_SYNTAX", i, err, nt, ok)
					}
				case err != nil:
					t.Fatalf("step %d: %v", i, err)
				}
				if outcome != s.want {
					t.Fatalf("step %d (fragment %d): %q (%v), want %q", i, s.m.Fragment.Number, outcome, err, s.want)
				}
			}
		})
	}
	t.Run("conflicts are bounded", func(t *testing.T) {
		var r Reassembler
		r.Add(real(0))
		for i := 0; i < MaxConflicts+3; i++ {
			f := decode(raw[0]).Fragment
			b, err := encodeFragment(&msg.Header, f.NextPayload, 1, f.Total, append(bytes.Clone(f.Data), byte(i)), c)
			if err != nil {
				t.Fatal(err)
			}
			r.Add(decode(b))
		}
		if len(r.parts[0]) != 1+MaxConflicts {
			t.Errorf("%d candidates for fragment 1, want at most %d", len(r.parts[0]), 1+MaxConflicts)
		}
	})
}
