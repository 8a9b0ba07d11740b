package main

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTar(t *testing.T, members map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bundle.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for name, body := range members {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	f.Close()
	return p
}

func TestPreseedDir(t *testing.T) {
	tests := []struct {
		name    string
		bundle  func(t *testing.T) string
		wantErr string
	}{
		{"good", func(t *testing.T) string {
			return writeTar(t, map[string]string{"gw1.crt": "x", "config.set": "set system hostname gw1\n"})
		}, ""},
		{"no config.set", func(t *testing.T) string { return writeTar(t, map[string]string{"gw1.crt": "x"}) }, "no config.set"},
		{"invalid set lines", func(t *testing.T) string {
			return writeTar(t, map[string]string{"config.set": "set interfaces eth0 mtu 70000\n"})
		}, "mtu"},
		{"not a tar", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.tar")
			os.WriteFile(p, []byte(strings.Repeat("garbage!", 200)), 0o644)
			return p
		}, "not a readable tar"},
		{"missing file", func(t *testing.T) string { return "/nonexistent/bundle.tar" }, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := preseedDir(tt.bundle(t), t.TempDir())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(dir, preseedName))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("preseed file mode %v, want 0600 (it may hold a key)", fi.Mode().Perm())
			}
		})
	}
}
