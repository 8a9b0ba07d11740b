package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/scripts/interop"
)

func TestParseInsnWindows(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []uint64
		wantErr    bool
	}{
		{"in order", "total 9\ngated 5\nopened 2\nwindow 3\nwindow 2\n", []uint64{3, 2}, false},
		{"none", "total 9\ngated 0\nopened 0\n", nil, false},
		{"other lines ignored", "window 7\nx y z\nwindows 4\nwindow 1\n", []uint64{7, 1}, false},
		{"bad number", "window 12x\n", nil, true},
		{"negative", "window -1\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseInsnWindows(tc.text)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParseInsnCountWithWindows: the window lines the plugin now writes
// must not upset the totals' parser.
func TestParseInsnCountWithWindows(t *testing.T) {
	got, err := parseInsnCount("total 10\ngated 6\nopened 2\nwindow 4\nwindow 2\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (insnCount{10, 6, 2}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name               string
		counts             []uint64
		first, median, max float64
		wantErr            bool
	}{
		{"one", []uint64{5}, 5, 5, 5, false},
		{"odd unsorted", []uint64{30, 10, 20}, 30, 20, 30, false},
		{"even: mean of the middle two", []uint64{4, 1, 3, 2}, 4, 2.5, 4, false},
		{"max not first", []uint64{1, 9, 2, 2, 3}, 1, 2, 9, false},
		{"large counts", []uint64{3_000_000_000, 1_000_000_000}, 3e9, 2e9, 3e9, false},
		{"empty", nil, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.counts)
			got, err := summarize("x", tc.counts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			want := keygenStats{typ: "x", n: len(tc.counts), first: tc.first, median: tc.median, max: tc.max}
			if got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if !slices.Equal(in, tc.counts) {
				t.Errorf("summarize reordered its input: %v, was %v", tc.counts, in)
			}
		})
	}
}

func TestKeygenCount(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want int
	}{{"rsa2048", 5}, {"rsa3072", 5}, {"ecdsa-p256", 20}, {"ed25519", 20}} {
		if got := keygenCount(tc.typ, 5, 20); got != tc.want {
			t.Errorf("keygenCount(%s) = %d, want %d", tc.typ, got, tc.want)
		}
	}
}

func TestParseKeygenTypes(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		want       []string
		wantErr    bool
	}{
		{"default", strings.Join(keygenTypes, ","), keygenTypes, false},
		{"one", "rsa2048", []string{"rsa2048"}, false},
		{"spaces and duplicates", " ed25519, rsa2048,ed25519,", []string{"ed25519", "rsa2048"}, false},
		{"the task's spelling is not the CLI's", "rsa-2048", nil, true},
		{"empty", " , ", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKeygenTypes(tc.list)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKeygenRows(t *testing.T) {
	rows := keygenRows([]keygenStats{
		{typ: "rsa2048", n: 5, first: 1.5e9, median: 1e9, max: 2.5e9},
		{typ: "ed25519", n: 20, first: 96e6, median: 1.6e6, max: 96e6},
	})
	want := []row{
		{measure: "key generation rsa2048 on 386 softfloat (5 keys)",
			value: "median 1000 M instructions, max 2500 M (first 1500 M); ALIX 4.0 s (max 10.0), WRAP 7.5 s (max 18.8) *"},
		{measure: "key generation ed25519 on 386 softfloat (20 keys)",
			value: "median 1.6 M instructions, max 96.0 M (first 96.0 M); ALIX 0.006 s (max 0.384), WRAP 0.012 s (max 0.722) *"},
		{measure: "* seconds assume",
			value: "0.5 instructions/cycle: ALIX Geode LX 500 MHz, WRAP SC1100 266 MHz (in-order cores)"},
	}
	if !slices.Equal(rows, want) {
		t.Fatalf("rows:\n%q\nwant:\n%q", rows, want)
	}
	if rows := keygenRows(nil); rows != nil {
		t.Errorf("no stats gave rows %q", rows)
	}
}

func TestBoardSeconds(t *testing.T) {
	for _, tc := range []struct {
		insns, hz, want float64
	}{
		{250e6, alixHz, 1},
		{133e6, wrapHz, 1},
		{0, alixHz, 0},
	} {
		if got := boardSeconds(tc.insns, tc.hz); got != tc.want {
			t.Errorf("boardSeconds(%g, %g) = %g, want %g", tc.insns, tc.hz, got, tc.want)
		}
	}
}

// TestKeygenTypesMatchCLI reads the CLI's keyTypes from
// configsvc/shell/pki.go: the bench must measure exactly what
// `pki generate key` offers.
func TestKeygenTypesMatchCLI(t *testing.T) {
	root, err := interop.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "configsvc", "shell", "pki.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var cli []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "keyTypes" || len(vs.Values) != 1 {
			return true
		}
		if sel, ok := vs.Values[0].(*ast.SelectorExpr); ok {
			// The CLI names the shared list: resolve what it names.
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "pki" && sel.Sel.Name == "BoardKeyTypes" {
				cli = append(cli, pki.BoardKeyTypes...)
			}
			return false
		}
		lit, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			return true
		}
		for _, e := range lit.Elts {
			if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
				s, err := strconv.Unquote(b.Value)
				if err != nil {
					t.Fatal(err)
				}
				cli = append(cli, s)
			}
		}
		return false
	})
	if len(cli) == 0 {
		t.Fatalf("no keyTypes string list (or pki.BoardKeyTypes) in %s", path)
	}
	if !slices.Equal(cli, keygenTypes) {
		t.Fatalf("the CLI offers %q, the bench measures %q", cli, keygenTypes)
	}
}

// TestGenerateCLIKey generates one key of each type natively and checks
// the PKCS#8 encoding holds the kind and size the type names.
func TestGenerateCLIKey(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		check func(any) bool
	}{
		{"ecdsa-p256", func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve.Params().BitSize == 256 }},
		{"rsa2048", func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 }},
		{"rsa3072", func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 3072 }},
		{"ed25519", func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok }},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			if testing.Short() && strings.HasPrefix(tc.typ, "rsa") {
				t.Skip("RSA key generation is slow")
			}
			der, err := generateCLIKey(tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			k, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(k) {
				t.Fatalf("%s gave a %T", tc.typ, k)
			}
		})
	}
	if _, err := generateCLIKey("rsa-2048"); err == nil {
		t.Error("unknown type rsa-2048 accepted")
	}
}

func TestRunKeygen(t *testing.T) {
	for _, tc := range []struct {
		typ     string
		k       int
		wantErr bool
	}{
		{"ecdsa-p256", 2, false},
		{"ed25519", 0, false},
		{"dsa", 1, true},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			if err := runKeygen(tc.typ, tc.k); (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// TestCountKeygen counts a few cheap key generations under qemu-i386:
// one window per key, and P-256 keys cost what DESIGN.md's P-256 figures
// lead one to expect (one scalar base multiplication, a few M).
func TestCountKeygen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 386 binary and runs it under qemu")
	}
	for _, tool := range []string{"qemu-i386", "cc", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	root, err := interop.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tools, err := prepareInsnTools(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stats, err := countKeygen(ctx, tools, []string{"ecdsa-p256", "ed25519"}, 1, 3, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 {
		t.Fatalf("got %d stats, want 2", len(stats))
	}
	for _, s := range stats {
		if s.n != 3 || s.median < 0.5e6 || s.median > 50e6 || s.max < s.median {
			t.Errorf("%s: %+v: implausible", s.typ, s)
		}
	}
}
