package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestApplySysctls(t *testing.T) {
	settings := []sysctl{
		{"net/ipv4/tcp_mtu_probing", "2", "probing"},
		{"net/ipv4/tcp_base_mss", "1024", "base"},
	}
	tests := []struct {
		name    string
		files   map[string]string // existing files and their contents
		want    map[string]string // contents afterwards
		wantErr string            // substring of the error, "" for none
	}{
		{
			name:  "defaults are changed",
			files: map[string]string{"net/ipv4/tcp_mtu_probing": "0\n", "net/ipv4/tcp_base_mss": "1024\n"},
			want:  map[string]string{"net/ipv4/tcp_mtu_probing": "2\n", "net/ipv4/tcp_base_mss": "1024\n"},
		},
		{
			name:    "a missing setting is reported, the others are still set",
			files:   map[string]string{"net/ipv4/tcp_base_mss": "536\n"},
			want:    map[string]string{"net/ipv4/tcp_base_mss": "1024\n"},
			wantErr: "sysctl net/ipv4/tcp_mtu_probing (probing)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, v := range tt.files {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, p), []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := applySysctls(dir, settings)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("applySysctls: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("applySysctls error = %v, want one containing %q", err, tt.wantErr)
			}
			for p, want := range tt.want {
				got, err := os.ReadFile(filepath.Join(dir, p))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
		})
	}
}

// TestBootSysctlsProbeBelowIPv6MinimumMTU keeps the probing start size
// small enough that a segment, with TCP/IPv6 headers (timestamps) and the
// largest ESP overhead we negotiate (AES-CBC: SPI, sequence, 16-byte IV,
// up to 15 bytes of padding, pad length, next header, 16-byte ICV), fits
// a 1280-byte path.
func TestBootSysctlsProbeBelowIPv6MinimumMTU(t *testing.T) {
	for _, s := range bootSysctls {
		if s.path != "net/ipv4/tcp_base_mss" {
			continue
		}
		mss, err := strconv.Atoi(s.value)
		if err != nil {
			t.Fatal(err)
		}
		const overhead = 40 + 20 + 12 + 8 + 16 + 15 + 2 + 16
		if mss+overhead > 1280 {
			t.Fatalf("tcp_base_mss %d + %d bytes of headers and ESP = %d > 1280", mss, overhead, mss+overhead)
		}
		return
	}
	t.Fatal("bootSysctls sets no tcp_base_mss")
}
