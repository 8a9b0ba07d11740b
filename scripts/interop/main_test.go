package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is built once by TestMain (as root) and only read afterwards:
// issuing the RSA keys and building alixca costs seconds, which every test
// would otherwise pay again. pkiErr says why it is missing.
var (
	testPKI *PKI
	pkiErr  error
	testDir string // removed after all tests; ikesvc is built into it
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		pkiErr = fmt.Errorf("not root")
		return m.Run()
	}
	if removed, err := CleanLeftovers(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: cleaning leftovers of an earlier run: %v\n", err)
		return 1
	} else if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "interop: removed leftover namespaces %v\n", removed)
	}
	// A fresh CI machine has no strongSwan or tshark: install them
	// (apt-get, as root) before anything needs them.
	installCtx, cancelInstall := context.WithTimeout(context.Background(), 10*time.Minute)
	err := InstallTools(installCtx, ".")
	cancelInstall()
	if err != nil {
		pkiErr = err
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "interop-pki-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := RepoRoot()
	if err == nil {
		testPKI, err = NewPKI(ctx, root, filepath.Join(dir, "pki"))
	}
	pkiErr = err
	return m.Run()
}

// requireRoot skips t unless we run as root (namespaces, mounts), and
// returns the shared test PKI.
func requireRoot(t *testing.T) *PKI {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("interop tests need root (network and mount namespaces); run go test as root")
	}
	if _, _, err := FindCharon(); err != nil {
		t.Fatal(err)
	}
	if pkiErr != nil {
		t.Fatalf("test PKI: %v", pkiErr)
	}
	return testPKI
}

// testContext bounds one test's helper calls.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newPair makes a namespace pair removed when t ends.
func newPair(t *testing.T, a, b string) *Pair {
	t.Helper()
	p, err := NewPair(testContext(t), a, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("remove namespaces: %v", err)
		}
	})
	return p
}

// startCharon starts charon on node, stopped when t ends; on failure its log
// goes to the test output.
func startCharon(t *testing.T, node *Node) *Charon {
	t.Helper()
	c, err := StartCharon(testContext(t), node, filepath.Join(t.TempDir(), node.Name))
	if c != nil {
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("stop charon: %v", err)
			}
			if t.Failed() {
				t.Logf("charon %s log:\n%s", node.Name, withoutViciChatter(c.Log()))
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// charonWith starts charon on node with host's credentials, trusting cas and
// holding the main CA's CRLs, and loads conn.
func charonWith(t *testing.T, p *PKI, node *Node, host string, cas []NamedPEM, conn Conn) *Charon {
	t.Helper()
	c := startCharon(t, node)
	h := p.Hosts[host]
	if err := c.Install(h, cas, p.Main.CRLs); err != nil {
		t.Fatal(err)
	}
	conn.LocalCert, conn.LocalID = h.Name+".crt", h.ID
	if err := c.Configure(testContext(t), conn); err != nil {
		t.Fatal(err)
	}
	return c
}

// withoutViciChatter drops the lines charon logs for every swanctl call,
// which drown the IKE story in a failed test's output.
func withoutViciChatter(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "] vici client ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
