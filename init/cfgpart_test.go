package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// fakeBlock makes a sysfs-like tree and device files for findConfigPartition.
func fakeBlock(t *testing.T, parts map[string]string) (sys, dev string) {
	t.Helper()
	sys, dev = t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(sys, "sda"), 0o755)
	os.WriteFile(filepath.Join(dev, "sda"), make([]byte, 4096), 0o644)
	for name, label := range parts {
		os.MkdirAll(filepath.Join(sys, name), 0o755)
		os.WriteFile(filepath.Join(sys, name, "partition"), []byte("1\n"), 0o644)
		img := make([]byte, 4096)
		if label != "" {
			binary.LittleEndian.PutUint16(img[1024+56:], 0xEF53)
			copy(img[1024+120:], label)
		}
		os.WriteFile(filepath.Join(dev, name), img, 0o644)
	}
	return sys, dev
}

func TestFindConfigPartition(t *testing.T) {
	tests := []struct {
		name    string
		parts   map[string]string
		want    string
		wantErr bool
	}{
		{"second partition", map[string]string{"sda1": "", "sda2": "CONFIG"}, "sda2", false},
		{"other label", map[string]string{"sda1": "", "sda2": "DATA"}, "", true},
		{"no partitions", map[string]string{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, dev := fakeBlock(t, tt.parts)
			got, err := findConfigPartition(sys, dev)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("found %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != filepath.Join(dev, tt.want) {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
