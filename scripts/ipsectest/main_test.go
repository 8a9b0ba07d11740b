package ipsectest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"alixsec.dev/scripts/interop"
)

// The shared test PKI (alixca: root, intermediate, hosts moon and sun) is
// issued once in TestMain; skipReason says why the QEMU tests cannot run.
var (
	testPKI    *interop.PKI
	pkiErr     error
	skipReason string
	imagePath  string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	out := os.Getenv("ALIXSEC_OUT")
	switch {
	case out == "":
		skipReason = "ALIXSEC_OUT not set: run `make test`, which builds the images first"
		return m.Run()
	case os.Geteuid() != 0:
		skipReason = "the QEMU IPsec tests need root (network namespaces, tap devices)"
		return m.Run()
	}
	imagePath = filepath.Join(out, "qemu.img")
	if removed, err := interop.CleanLeftovers(); err != nil {
		fmt.Fprintf(os.Stderr, "ipsectest: cleaning leftovers of an earlier run: %v\n", err)
		return 1
	} else if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "ipsectest: removed leftover namespaces %v\n", removed)
	}
	dir, err := os.MkdirTemp("", "ipsectest-pki-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := interop.RepoRoot()
	if err == nil {
		// A fresh CI machine has no strongSwan: interop's deps.sh
		// installs it (apt-get, as root) when something is missing.
		installCtx, cancelInstall := context.WithTimeout(context.Background(), 10*time.Minute)
		err = interop.InstallTools(installCtx, filepath.Join(root, "scripts", "interop"))
		cancelInstall()
	}
	if err == nil {
		testPKI, err = interop.NewPKI(ctx, root, filepath.Join(dir, "pki"))
	}
	pkiErr = err
	return m.Run()
}

// requireQEMU skips t without ALIXSEC_OUT or root, fails it when the image
// or the PKI is missing, and returns the PKI.
func requireQEMU(t *testing.T) *interop.PKI {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if _, err := os.Stat(imagePath); err != nil {
		t.Fatalf("ALIXSEC_OUT is set but the image is missing: %v", err)
	}
	if pkiErr != nil {
		t.Fatalf("test PKI: %v", pkiErr)
	}
	return testPKI
}
