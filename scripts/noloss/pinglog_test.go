package noloss

import (
	"reflect"
	"testing"
)

func TestParsePingLog(t *testing.T) {
	out := "alixsec> PING 10.77.1.2: 56 data bytes every 10ms, listing only losses\n" +
		"[101.250] icmp_seq=120: no reply\n" +
		"[101.250] icmp_seq=120-135: no reply (16 lost)\n" +
		"[140.010] icmp_seq=4000: no reply\n" +
		"--- 10.77.1.2 ping statistics ---\n" +
		"5000 packets transmitted, 4983 received, 0.34% packet loss, 17 lost\n" +
		"lost icmp_seq: 120-135, 4000\n"
	p, err := ParsePingLog(out)
	if err != nil {
		t.Fatal(err)
	}
	want := PingLog{Sent: 5000, Received: 4983, Done: true, Losses: []LossRun{{101.25, 120, 135}, {140.01, 4000, 4000}}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParsePingLog = %+v, want %+v", p, want)
	}
	if p.Lost() != 17 {
		t.Errorf("Lost = %d, want 17", p.Lost())
	}
	// Still running: no statistics yet, the run's start line only.
	p, err = ParsePingLog("PING x\n[5.000] icmp_seq=1: no reply\n")
	if err != nil || p.Done || p.Lost() != 1 {
		t.Errorf("running log: %+v, %v", p, err)
	}
}

func TestAttribute(t *testing.T) {
	losses := []LossRun{{5, 1, 3}, {10.5, 100, 100}, {12, 200, 209}, {30, 900, 900}}
	tests := []struct {
		starts   []float64
		want     []int
		baseline int
	}{
		{[]float64{10, 20}, []int{11, 1}, 3},
		{[]float64{1}, []int{15}, 0},
		{[]float64{10, 10.5, 11}, []int{0, 1, 11}, 3},
		{nil, []int{}, 15},
	}
	for _, tt := range tests {
		got, base := Attribute(losses, tt.starts)
		if !reflect.DeepEqual(got, tt.want) || base != tt.baseline {
			t.Errorf("Attribute(%v) = %v, %d; want %v, %d", tt.starts, got, base, tt.want, tt.baseline)
		}
	}
}
