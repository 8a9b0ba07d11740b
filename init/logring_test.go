package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixedClock() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

func TestLogRingKeepsNewestInOrder(t *testing.T) {
	tests := []struct {
		capacity, added int
		wantFirst       string
		wantLen         int
	}{
		{capacity: 4, added: 2, wantFirst: "m0", wantLen: 2},
		{capacity: 4, added: 4, wantFirst: "m0", wantLen: 4},
		{capacity: 4, added: 10, wantFirst: "m6", wantLen: 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-into-%d", tt.added, tt.capacity), func(t *testing.T) {
			r := newLogRing(tt.capacity, fixedClock)
			for i := 0; i < tt.added; i++ {
				r.add("svc", fmt.Sprintf("m%d", i))
			}
			got := r.snapshot()
			if len(got) != tt.wantLen {
				t.Fatalf("kept %d lines, want %d: %q", len(got), tt.wantLen, got)
			}
			if !strings.HasSuffix(got[0], "svc: "+tt.wantFirst) {
				t.Fatalf("oldest line %q, want message %s", got[0], tt.wantFirst)
			}
			if !strings.HasSuffix(got[len(got)-1], fmt.Sprintf("m%d", tt.added-1)) {
				t.Fatalf("newest line %q", got[len(got)-1])
			}
		})
	}
}

func TestLineWriterSplitsAndForwards(t *testing.T) {
	r := newLogRing(16, fixedClock)
	var forwarded []string
	r.setForward(func(s string) { forwarded = append(forwarded, s) })
	w := r.writer("ikesvc")
	io.WriteString(w, "first li")
	io.WriteString(w, "ne\r\nsecond\n\nthird-without-newline")
	got := r.snapshot()
	if len(got) != 2 || !strings.HasSuffix(got[0], "ikesvc: first line") || !strings.HasSuffix(got[1], "ikesvc: second") {
		t.Fatalf("lines %q", got)
	}
	if len(forwarded) != 2 || forwarded[0] != "ikesvc: first line" {
		t.Fatalf("forwarded %q", forwarded)
	}
	io.WriteString(w, strings.Repeat("x", 3000))
	if n := len(r.snapshot()); n != 4 {
		t.Fatalf("an overlong line must be cut into maxLine pieces: %d lines", n)
	}
}

func TestLogSocketServesRing(t *testing.T) {
	r := newLogRing(8, fixedClock)
	r.add("init", "hello")
	sock := filepath.Join(t.TempDir(), "log.sock")
	if err := r.listenLogSocket(sock); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-27T12:00:00.000Z init: hello\n"; string(data) != want {
		t.Fatalf("got %q, want %q", data, want)
	}
}
