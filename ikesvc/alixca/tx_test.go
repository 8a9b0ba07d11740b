package main

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func dirListing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if info.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = info.Mode().String() + " " + string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTxCommit(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "old.crt"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dir, "gone.csr"), []byte("csr"), 0o644)
	tr := tx{dir: dir}
	tr.write(indexFile, []byte("index"), 0o644)
	tr.write("old.crt", []byte("new"), 0o644)
	tr.write("h.key", []byte("secret"), 0o600)
	tr.write(filepath.Join(certsDir, "01.crt"), []byte("archived"), 0o644)
	tr.remove("gone.csr")
	tr.remove("never-existed")
	if err := tr.commit(); err != nil {
		t.Fatal(err)
	}
	got := dirListing(t, dir)
	want := map[string]string{
		"./": "", "certs/": "",
		"index.txt":    "-rw-r--r-- index",
		"old.crt":      "-rw-r--r-- new",
		"h.key":        "-rw------- secret",
		"certs/01.crt": "-rw-r--r-- archived",
	}
	if len(got) != len(want) {
		t.Fatalf("directory holds %v", keys(got))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// A rename that fails half-way must leave the directory exactly as it was.
func TestTxRollback(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.crt"), []byte("old a"), 0o644)
	os.WriteFile(filepath.Join(dir, indexFile), []byte("old index"), 0o644)
	os.WriteFile(filepath.Join(dir, "c.crt"), []byte("old c"), 0o644)
	before := dirListing(t, dir)

	// The third rename (c.crt) fails, after a.crt was replaced and b.key
	// created.
	renames := 0
	tr := tx{dir: dir, rename: func(from, to string) error {
		if renames++; renames == 3 {
			return os.ErrPermission
		}
		return os.Rename(from, to)
	}}
	tr.write("a.crt", []byte("new a"), 0o644)
	tr.write("b.key", []byte("new key"), 0o600)
	tr.write(indexFile, []byte("new index"), 0o644)
	tr.write("c.crt", []byte("new c"), 0o644)
	if err := tr.commit(); err == nil {
		t.Fatal("commit with a failing rename succeeded")
	}
	if renames != 3 {
		t.Fatalf("%d renames, want 3 (index.txt must come last)", renames)
	}

	assertUnchanged(t, dir, before)

	// A directory in the way fails while staging, before any rename.
	os.MkdirAll(filepath.Join(dir, "blocker", "x"), 0o755)
	before = dirListing(t, dir)
	tr = tx{dir: dir}
	tr.write("a.crt", []byte("new a"), 0o644)
	tr.write("blocker", []byte("cannot land"), 0o644)
	if err := tr.commit(); err == nil {
		t.Fatal("commit over a directory succeeded")
	}
	assertUnchanged(t, dir, before)
}

func assertUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := dirListing(t, dir)
	if len(after) != len(before) {
		t.Fatalf("before %v\nafter  %v", keys(before), keys(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: %q -> %q", k, v, after[k])
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
