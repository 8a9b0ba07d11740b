package imagetest

import "testing"

func TestSingleStamped(t *testing.T) {
	tests := []struct {
		log  string
		good bool
	}{
		{"2026-12-03T08:58:58Z init: config partition mounted\n2026-12-03T08:58:59Z configsvc: serving\n", true},
		{"2026-12-03T08:58:58Z init: x\n2026-12-03T08:58:58Z configsvc: configsvc: serving\n", false},
		{"2026-12-03T08:58:58Z init: x\n2026-12-03T08:58:58Z configsvc: y\n2026-12-03T08:58:58Z ikesvc: 2026/12/03 08:58:58 ikesvc: running\n", false},
		{"2026-12-03T08:58:58Z init: init: x\n2026-12-03T08:58:58Z configsvc: y\n", false},
	}
	for _, tt := range tests {
		if err := singleStamped(tt.log); (err == nil) != tt.good {
			t.Errorf("singleStamped(%q) = %v, want good=%v", tt.log, err, tt.good)
		}
	}
}
