package main

import (
	"errors"
	"log"
	"strings"
	"testing"
	"time"
)

// TestAwaitEntropyLogsReadiness: the host's RNG is ready, so the wait
// returns and logs when, with or without the kernel's uptime.
func TestAwaitEntropyLogsReadiness(t *testing.T) {
	tests := []struct {
		name   string
		uptime func() (time.Duration, error)
		want   string
	}{
		{"with uptime", func() (time.Duration, error) { return 1500 * time.Millisecond, nil }, "random: kernel RNG ready 1.500 s after kernel start (waited "},
		{"without uptime", func() (time.Duration, error) { return 0, errors.New("no /proc/uptime") }, "random: kernel RNG ready (waited "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			awaitEntropy(log.New(&out, "", 0), tt.uptime)
			if !strings.HasPrefix(out.String(), tt.want) || strings.Count(out.String(), "\n") != 1 {
				t.Errorf("logged %q, want one line starting %q", out.String(), tt.want)
			}
		})
	}
}
