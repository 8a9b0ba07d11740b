package main

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFirstBootSources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.set")
	os.WriteFile(good, []byte("set system hostname preseeded\n"), 0o644)
	bad := filepath.Join(dir, "bad.set")
	os.WriteFile(bad, []byte("set routes 10.0.0.0/8\n"), 0o644)
	tests := []struct {
		name, preseed, board, wantHost, wantLog string
	}{
		{"default qemu", "", "qemu", "alixsec", "factory default for board \"qemu\""},
		{"preseed", good, "qemu", "preseeded", "using preseeded"},
		{"missing preseed", filepath.Join(dir, "none.set"), "alix", "alixsec", "first boot"},
		{"invalid preseed", bad, "qemu", "alixsec", "ignoring preseed: " + bad + ": invalid configuration:\nroutes 10.0.0.0/8: needs next-hop or interface"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			db := filepath.Join(dir, "db", tt.name)
			os.MkdirAll(filepath.Dir(db), 0o755)
			_, existed := os.Stat(tt.preseed)
			st, err := openStore(db, tt.board, tt.preseed, false, log.New(&logs, "", 0))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r, err := st.Running()
			if err != nil || r.Number != 1 || r.Config.System.Hostname != tt.wantHost {
				t.Errorf("case %d: running %+v, %v", i, r, err)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tt.wantLog)
			}
			// An imported preseed (it may hold a private key) is gone;
			// an invalid one stays for the admin to look at.
			_, statErr := os.Stat(tt.preseed)
			if imported := tt.wantHost == "preseeded"; existed == nil && imported != os.IsNotExist(statErr) {
				t.Errorf("preseed %s after first boot: stat %v (imported %v)", tt.preseed, statErr, imported)
			}
		})
	}
}

func TestRecoverCorruptMovesAside(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "config.db")
	os.WriteFile(db, []byte("not a database, but someone's data"), 0o600)
	if _, err := openStore(db, "qemu", "", false, log.New(&bytes.Buffer{}, "", 0)); err == nil {
		t.Fatal("corrupt DB opened without -recover-corrupt")
	}
	st, err := openStore(db, "qemu", "", true, log.New(&bytes.Buffer{}, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	aside, _ := filepath.Glob(db + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("aside files: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != "not a database, but someone's data" {
		t.Errorf("moved file changed: %q", b)
	}
}
