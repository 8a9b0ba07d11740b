package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMountedPart(t *testing.T) {
	table := "/dev/sda1 / ext4 rw 0 0\n/dev/mmcblk0p2 /media/x vfat rw 0 0\nproc /proc proc rw 0 0\n"
	tests := []struct {
		dev  string
		want string
	}{
		{"/dev/sda", "/dev/sda1 on /"},
		{"/dev/sda1", "/dev/sda1 on /"},
		{"/dev/sdb", ""},
		{"/dev/sd", ""},
		{"/dev/mmcblk0", "/dev/mmcblk0p2 on /media/x"},
	}
	for _, tt := range tests {
		if got := mountedPart(tt.dev, table); got != tt.want {
			t.Errorf("mountedPart(%s) = %q, want %q", tt.dev, got, tt.want)
		}
	}
}

func TestFlashRegularFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "img")
	card := filepath.Join(dir, "card")
	data := bytes.Repeat([]byte("alixsec"), 100000)
	os.WriteFile(image, data, 0o644)
	os.WriteFile(card, make([]byte, len(data)+4096), 0o644)
	var out bytes.Buffer
	if err := run([]string{"-image", image, "-dev", card}, &out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(card)
	if !bytes.Equal(got[:len(data)], data) {
		t.Fatal("card content differs from image")
	}
	if !strings.Contains(out.String(), "verified") {
		t.Fatalf("output %q", out.String())
	}
}

func TestCheckTargetRefusals(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	f, _ := os.Create(big)
	f.Truncate(65 << 30) // sparse
	f.Close()
	if _, err := checkTarget(big, "", false); err == nil || !strings.Contains(err.Error(), "FORCE=1") {
		t.Fatalf("65 GiB target: err = %v, want refusal", err)
	}
	if _, err := checkTarget(big, "", true); err != nil {
		t.Fatalf("65 GiB target with force: %v", err)
	}
	if _, err := checkTarget(big, big+" /mnt ext4 rw 0 0\n", true); err == nil || !strings.Contains(err.Error(), "mounted") {
		t.Fatalf("mounted target: err = %v, want refusal", err)
	}
	if _, err := checkTarget(filepath.Join(dir, "none"), "", false); err == nil {
		t.Fatal("missing target accepted")
	}
}
