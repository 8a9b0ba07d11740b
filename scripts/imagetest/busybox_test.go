package imagetest

import (
	"bufio"
	"bytes"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/u-root/mkuimage/cpio"
)

// guardedFunctions are Go runtime and library routines that check the CPU's
// features before running instructions a Geode may lack; what they contain
// never runs on a Pentium MMX class CPU.
var guardedFunctions = map[string]string{}

// extractBusybox unpacks bbin/bb from the shipped initramfs.
func extractBusybox(t *testing.T) string {
	t.Helper()
	unzstd := exec.Command("zstd", "-dc", artifact(t, "initramfs.zst"))
	var cpioData bytes.Buffer
	unzstd.Stdout = &cpioData
	if err := unzstd.Run(); err != nil {
		t.Fatalf("decompress initramfs: %v", err)
	}
	rr := cpio.Newc.Reader(bytes.NewReader(cpioData.Bytes()))
	for {
		rec, err := rr.ReadRecord()
		if err == io.EOF {
			t.Fatal("initramfs has no bbin/bb")
		}
		if err != nil {
			t.Fatalf("read initramfs: %v", err)
		}
		if rec.Name != "bbin/bb" {
			continue
		}
		data, err := io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		if err != nil {
			t.Fatalf("read bbin/bb: %v", err)
		}
		p := filepath.Join(t.TempDir(), "bb")
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// goSymbols reads the Go symbol table of a 32-bit 386 binary from its
// pclntab, which survives stripping.
func goSymbols(t *testing.T, path string) *gosym.Table {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS32 || f.Machine != elf.EM_386 {
		t.Fatalf("busybox is %v %v, want a 32-bit 386 binary", f.Class, f.Machine)
	}
	pcln := f.Section(".gopclntab")
	text := f.Section(".text")
	if pcln == nil || text == nil {
		t.Fatal("busybox has no .gopclntab/.text: not a Go binary?")
	}
	data, err := pcln.Data()
	if err != nil {
		t.Fatal(err)
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		t.Fatalf("read pclntab: %v", err)
	}
	return table
}

// symbolizer maps program counters to Go function names.
func symbolizer(t *testing.T, path string) func(pc uint64) string {
	t.Helper()
	table := goSymbols(t, path)
	return func(pc uint64) string {
		if fn := table.PCToFunc(pc); fn != nil {
			return fn.Name
		}
		return fmt.Sprintf("unknown@%#x", pc)
	}
}

// TestBusyboxMakesNoReflectiveCalls fails when anything in the busybox
// can call a function through reflect.Value.Call. configsvc died twice on
// the 386 board with a Go runtime fatal error while net/rpc's reflective
// call was on its stack ("missing stackmap" once); on 386 that path runs
// through runtime callRet, which lacks the NO_LOCAL_POINTERS annotation
// amd64 has. configsvc now serves its API without reflection
// (configsvc/gobrpc), and nothing may bring the path back: when the linker
// keeps reflect.Value.call, something reaches it.
func TestBusyboxMakesNoReflectiveCalls(t *testing.T) {
	table := goSymbols(t, extractBusybox(t))
	if len(table.Funcs) < 1000 {
		t.Fatalf("only %d functions in the busybox symbol table: pclntab not understood", len(table.Funcs))
	}
	for _, name := range []string{"reflect.Value.call", "net/rpc.(*service).call"} {
		if fn := table.LookupFunc(name); fn != nil {
			t.Errorf("busybox links %s (at %#x): some command calls functions reflectively (see configsvc/gobrpc for why the firmware avoids that on 386)", name, fn.Entry)
		}
	}
	if table.LookupFunc("runtime.reflectcall") == nil {
		t.Error("runtime.reflectcall not found: the symbol lookup itself is broken")
	}
}

// TestBusyboxRunsOnGeode disassembles the shipped busybox and fails on
// any CMOV/FCMOV (the WRAP's SC1100 has none) or multi-byte NOP (NOPL/NOPW,
// P6 and later) outside CPU-feature-guarded routines.
func TestBusyboxRunsOnGeode(t *testing.T) {
	bb := extractBusybox(t)
	funcName := symbolizer(t, bb)
	cmd := exec.Command("objdump", "-d", "--no-show-raw-insn", "-M", "att", bb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("objdump (Debian package binutils): %v", err)
	}
	bad := map[string][]string{} // function -> offending instructions
	guardedHits := map[string]int{}
	instructions := 0
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		addr, insn, ok := parseObjdumpLine(sc.Text())
		if !ok {
			continue
		}
		instructions++
		mnemonic := strings.Fields(insn)[0]
		if !needsP6(mnemonic) {
			continue
		}
		fn := funcName(addr)
		if _, ok := guardedFunctions[fn]; ok {
			guardedHits[fn]++
			continue
		}
		bad[fn] = append(bad[fn], fmt.Sprintf("%#x %s", addr, insn))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("objdump: %v", err)
	}
	if instructions < 100000 {
		t.Fatalf("disassembled only %d instructions: objdump output not understood", instructions)
	}
	t.Logf("%d instructions disassembled; P6-only instructions in guarded routines: %v", instructions, guardedHits)
	if len(bad) > 0 {
		var names []string
		for fn := range bad {
			names = append(names, fn)
		}
		sort.Strings(names)
		for _, fn := range names {
			t.Errorf("%s: %d P6-only instruction(s), first: %s", fn, len(bad[fn]), bad[fn][0])
		}
	}
}

// needsP6 reports whether an instruction mnemonic (AT&T syntax) needs a
// P6-class CPU: CMOVcc, FCMOVcc and the multi-byte NOPs.
func needsP6(mnemonic string) bool {
	return strings.HasPrefix(mnemonic, "cmov") || strings.HasPrefix(mnemonic, "fcmov") ||
		strings.HasPrefix(mnemonic, "nopl") || strings.HasPrefix(mnemonic, "nopw")
}

// parseObjdumpLine splits "  8049000:\tcmovne %eax,%ebx" into address and
// instruction.
func parseObjdumpLine(line string) (uint64, string, bool) {
	addrText, insn, ok := strings.Cut(line, ":\t")
	if !ok {
		return 0, "", false
	}
	addr, err := strconv.ParseUint(strings.TrimSpace(addrText), 16, 64)
	if err != nil {
		return 0, "", false
	}
	insn = strings.TrimSpace(insn)
	if insn == "" || strings.HasPrefix(insn, "(bad)") {
		return 0, "", false
	}
	return addr, insn, true
}

func TestNeedsP6(t *testing.T) {
	tests := []struct {
		mnemonic string
		want     bool
	}{
		{"cmovne", true}, {"cmovl", true}, {"fcmovb", true}, {"nopl", true}, {"nopw", true},
		{"nop", false}, {"mov", false}, {"movl", false}, {"xchg", false}, {"call", false},
	}
	for _, tt := range tests {
		if got := needsP6(tt.mnemonic); got != tt.want {
			t.Errorf("needsP6(%q) = %v, want %v", tt.mnemonic, got, tt.want)
		}
	}
}
