package imagetest

import (
	"os"
	"path/filepath"
	"testing"
)

// outDir returns the directory with the built images, or skips the test
// when the images have not been built by `make test`.
func outDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ALIXSEC_OUT")
	if dir == "" {
		t.Skip("ALIXSEC_OUT not set: run `make test`, which builds the images first")
	}
	return dir
}

// artifact returns the path of a built file and fails if it is missing:
// once ALIXSEC_OUT is set, a missing file is a build failure, not a skip.
func artifact(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(outDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("built artifact missing: %v", err)
	}
	return p
}
