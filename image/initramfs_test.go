package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestInitramfsCacheKey(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module alixsec.dev\n")
	write("init/main.go", "package main\n")
	write("init/main_test.go", "package main\n")
	ib := &initramfsBuilder{moduleRoot: root, version: "v1", progress: io.Discard}
	key := func() string {
		k, err := ib.cacheKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key()
	steps := []struct {
		name    string
		change  func()
		changes bool
	}{
		{"nothing changed", func() {}, false},
		{"a test file changed", func() { write("init/main_test.go", "package main // more\n") }, false},
		{"build output changed", func() { write("out/x.go", "package x\n") }, false},
		{"a source file changed", func() { write("init/main.go", "package main // new\n") }, true},
		{"go.sum changed", func() { write("go.sum", "x v1 h1:abc\n") }, true},
		{"version changed", func() { ib.version = "v2" }, true},
	}
	for _, s := range steps {
		s.change()
		got := key()
		if (got != base) != s.changes {
			t.Fatalf("%s: key changed = %v, want %v", s.name, got != base, s.changes)
		}
		base = got
	}
}
