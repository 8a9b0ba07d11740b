package noloss

import (
	"reflect"
	"testing"
)

// u-root's `ip xfrm state list` / `ip xfrm policy list` output, as the
// boards print it (keys shortened).
const (
	xfrmStates = "src 10.77.1.2 dst 10.77.1.1\n\tproto esp spi 0xc3c1305b mode tunnel\n\treqid 168099840 replay-window 32\n" +
		"\taead rfc4106(gcm(aes)) 0x0102 160bits\n\tsel src 0.0.0.0/0 dst 0.0.0.0/0\n" +
		"statistics: replay-window 32 replay 0 failed 0 bytes 0 packets 0\n\n" +
		"src 10.77.1.1 dst 10.77.1.2\n\tproto esp spi 0xc4b70d65 mode tunnel\n\treqid 168099840 replay-window 32\n"
	xfrmPolicies = "src 10.77.1.1/32 dst 10.77.1.2/32\n\tdir out priority 0\n\tproto 0 sport 0 dport 0\n\taction allow if_id 0\n" +
		"\ttmpl src 10.77.1.1 dst 10.77.1.2\n\t\tproto esp reqid 168099840 mode tunnel spi 0\n\n" +
		"src 10.77.1.2/32 dst 10.77.1.1/32\n\tdir in priority 0\n\tproto 0 sport 0 dport 0\n\taction allow if_id 0\n" +
		"\ttmpl src 10.77.1.2 dst 10.77.1.1\n\t\tproto esp reqid 168099840 mode tunnel spi 0\n\n" +
		"src 10.77.1.2/32 dst 10.77.1.1/32\n\tdir fwd priority 0\n\tproto 0 sport 0 dport 0\n\taction allow if_id 0\n" +
		"\ttmpl src 10.77.1.2 dst 10.77.1.1\n\t\tproto esp reqid 168099840 mode tunnel spi 0\n"
)

func TestXfrmCompare(t *testing.T) {
	states, err := ParseXfrm(xfrmStates)
	if err != nil {
		t.Fatal(err)
	}
	policies, err := ParseXfrm(xfrmPolicies)
	if err != nil {
		t.Fatal(err)
	}
	wantS, wantP := ExpectedXfrm("10.77.1.1", "10.77.1.2", "tunnel", "c3c1305b", "c4b70d65")
	if d := DiffXfrm(states, wantS); len(d) != 0 {
		t.Errorf("states differ: %q", d)
	}
	if d := DiffXfrm(policies, wantP); len(d) != 0 {
		t.Errorf("policies differ: %q", d)
	}
	// A leftover of the churn and a missing SA are both reported.
	extra, _ := ParseXfrm(xfrmStates + "src 10.77.1.1 dst 10.200.3.4\n\tproto esp spi 0xc0000001 mode transport\n")
	wantS2, _ := ExpectedXfrm("10.77.1.1", "10.77.1.2", "tunnel", "c3c1305b", "c0000099")
	d := DiffXfrm(extra, wantS2)
	want := []string{
		"left over in the kernel (x1): 10.77.1.1 -> 10.200.3.4 esp spi 0xc0000001 transport",
		"left over in the kernel (x1): 10.77.1.1 -> 10.77.1.2 esp spi 0xc4b70d65 tunnel",
		"missing from the kernel (x1): 10.77.1.1 -> 10.77.1.2 esp spi 0xc0000099 tunnel",
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("DiffXfrm =\n%q\nwant\n%q", d, want)
	}
	if _, err := ParseXfrm("src 1.2.3.4 dst 5.6.7.8\n\tgarbage\n"); err == nil {
		t.Error("ParseXfrm accepted an entry that is neither SA nor policy")
	}
}
