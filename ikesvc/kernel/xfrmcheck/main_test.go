package main

import (
	"context"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// TestCheckSetOnMemory runs the same self-check the guest runs, on the
// in-memory backend, for every suite and family combination.
func TestCheckSetOnMemory(t *testing.T) {
	tests := []struct {
		suite      string
		ipv6, natt bool
		wantSAs    int
	}{
		{"cbc", false, false, 2},
		{"gcm", true, false, 4},
		{"chacha", true, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.suite, func(t *testing.T) {
			set, err := checkSet(tt.suite, tt.ipv6, tt.natt)
			if err != nil {
				t.Fatal(err)
			}
			m, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
			if err != nil {
				t.Fatal(err)
			}
			sas, policies, err := kernel.SelfCheck(context.Background(), m, set)
			if err != nil {
				t.Fatal(err)
			}
			if sas != tt.wantSAs || policies != tt.wantSAs {
				t.Errorf("verified %d SAs %d policies, want %d each", sas, policies, tt.wantSAs)
			}
		})
	}
	if _, err := checkSet("des", false, false); err == nil {
		t.Error("unknown suite accepted")
	}
}
