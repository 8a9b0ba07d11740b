// Command ikebench measures ikesvc's IKE responder for `make bench`:
// full handshakes per second of ikesvc's responder and of strongSwan's
// charon on this machine, driven one after the other by the same initiator
// load (the ike engine as initiator, one engine per address, each
// handshake IKE_SA_INIT + IKE_AUTH with ECDSA P-256 certificates through
// the intermediate and X25519, then a Delete), and the instructions one
// responder handshake costs in the 386 softfloat build, counted under
// qemu-i386 with a small TCG plugin (this host cannot exec 386 binaries,
// so valgrind cannot run them). Then, counted the same way, the
// instructions the CLI's on-board key generation (`pki generate key NAME
// TYPE`, every type it offers) costs per key, median and max, with the
// seconds that makes on an ALIX and a WRAP. As root it installs what it
// needs.
//
//	go run ./scripts/ikebench [-n 1500] [-c 4] [-rounds 5] [-k 10]
//	go run ./scripts/ikebench -only keygen [-keygen-rsa-n 5] [-keygen-ec-n 20]
//
// -mode load, -mode pair and -mode keygen are its own helpers: the load
// generator (run inside the initiator's network namespace), the
// in-process handshake program and the key generator (run as a 386 binary
// under qemu).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ikebench: %v\n", err)
		os.Exit(1)
	}
}

// Goals from issue 4.
const (
	goalRatio        = 2.0
	goalInstructions = 60e6
)

type options struct {
	mode          string
	keyType       string
	n, c, k       int
	rounds        int
	warmup        int
	target        string
	locals        string
	creds         string
	ike, esp      string
	skipCharon    bool
	skipIkesvc    bool
	skipInsn      bool
	timeoutBudget time.Duration
	only          string
	keygen        keygenOptions
	heap          heapOptions
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ikebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.mode, "mode", "bench", "bench (everything), load (the load generator), pair (in-process handshakes) or heap (heap per established SA)")
	fs.IntVar(&o.n, "n", 1500, "counted handshakes per responder")
	fs.IntVar(&o.rounds, "rounds", 5, "bench: alternating rounds per responder (n is split among them)")
	fs.IntVar(&o.c, "c", 4, "concurrent initiators (one address each)")
	fs.IntVar(&o.k, "k", 10, "counted handshakes for the instruction count")
	fs.IntVar(&o.warmup, "warmup", -1, "uncounted handshakes first (default: c for the load, 1 for pair)")
	fs.StringVar(&o.target, "target", "", "load: responder address")
	fs.StringVar(&o.locals, "locals", "", "load: comma-separated initiator addresses")
	fs.StringVar(&o.keyType, "key-type", "", "keygen: key type, as pki generate key takes it")
	fs.StringVar(&o.creds, "creds", "", "load, pair: credential directory")
	fs.StringVar(&o.ike, "ike", benchIKE, "IKE proposal")
	fs.StringVar(&o.esp, "esp", benchESP, "ESP proposal")
	fs.BoolVar(&o.skipCharon, "skip-charon", false, "bench: do not measure charon")
	fs.BoolVar(&o.skipIkesvc, "skip-ikesvc", false, "bench: do not measure ikesvc")
	fs.BoolVar(&o.skipInsn, "skip-insn", false, "bench: do not count 386 instructions")
	fs.DurationVar(&o.timeoutBudget, "timeout", 170*time.Second, "bench: give up on the IKE measures after this long")
	fs.StringVar(&o.only, "only", "", "bench: measure only this part (keygen, heap)")
	fs.BoolVar(&o.heap.skip, "skip-heap", false, "bench: do not measure the heap per IKE SA")
	fs.IntVar(&o.heap.n, "heap-n", 100, "heap: IKE SA + CHILD SA pairs to establish")
	fs.StringVar(&o.heap.profile, "heap-profile", "", "heap: write a heap profile of the established state here")
	fs.BoolVar(&o.keygen.skip, "skip-keygen", false, "bench: do not count key generation")
	fs.StringVar(&o.keygen.types, "keygen-types", strings.Join(keygenTypes, ","), "bench: comma-separated key types to generate")
	fs.IntVar(&o.keygen.rsaN, "keygen-rsa-n", 5, "bench: RSA keys per type")
	fs.IntVar(&o.keygen.ecN, "keygen-ec-n", 20, "bench: ECDSA and Ed25519 keys per type")
	fs.DurationVar(&o.keygen.timeout, "keygen-timeout", 10*time.Minute, "bench: give up on key generation after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// -k 0 is the pair program's baseline run (start-up and warm-up only).
	if o.n < 1 || o.c < 1 || o.rounds < 1 || o.k < 0 || (o.mode == "bench" && o.k < 1) {
		return errors.New("-n, -c, -k and -rounds must be at least 1")
	}
	switch o.mode {
	case "bench":
		if o.only != "" && o.only != "keygen" && o.only != "heap" {
			return fmt.Errorf("-only %q: only keygen or heap", o.only)
		}
		if o.only == "keygen" && o.keygen.skip {
			return errors.New("-only keygen with -skip-keygen leaves nothing to measure")
		}
		if o.only == "heap" && o.heap.skip {
			return errors.New("-only heap with -skip-heap leaves nothing to measure")
		}
		if o.heap.n < 1 {
			return errors.New("-heap-n must be at least 1")
		}
		var rows []row
		var err error
		if o.only == "" {
			ctx, cancel := context.WithTimeout(context.Background(), o.timeoutBudget)
			rows, err = bench(ctx, o, stderr)
			cancel()
		}
		if err == nil && !o.heap.skip && (o.only == "" || o.only == "heap") {
			var hr []row
			hr, err = benchHeap(o, stderr)
			rows = append(rows, hr...)
		}
		if err == nil && !o.keygen.skip && (o.only == "" || o.only == "keygen") {
			var kr []row
			kr, err = benchKeygen(o.keygen, stderr)
			rows = append(rows, kr...)
		}
		printTable(stdout, rows)
		return err
	case "load":
		return loadMode(o, stdout)
	case "keygen":
		return runKeygen(o.keyType, o.k)
	case "heap":
		return runHeap(o.ike, o.esp, o.heap.n, o.heap.profile, stdout)
	case "pair":
		if o.warmup < 0 {
			o.warmup = 1
		}
		return runPair(o.creds, o.ike, o.esp, o.warmup, o.k)
	}
	return fmt.Errorf("unknown -mode %q", o.mode)
}

// loadMode runs the load generator and prints its result as JSON.
func loadMode(o options, stdout io.Writer) error {
	target, err := netip.ParseAddr(o.target)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	var locals []netip.Addr
	for _, s := range strings.Split(o.locals, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-locals %q: %w", o.locals, err)
		}
		locals = append(locals, a)
	}
	if o.warmup < 0 {
		o.warmup = len(locals)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := runLoad(ctx, loadSpec{
		target: target, locals: locals, n: o.n, warmup: o.warmup,
		credDir: o.creds, ike: o.ike, esp: o.esp,
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// row is one line of the result table.
type row struct{ measure, value, goal string }

func printTable(w io.Writer, rows []row) {
	if len(rows) == 0 {
		return
	}
	wm, wv := len("measure"), len("value")
	for _, r := range rows {
		wm, wv = max(wm, len(r.measure)), max(wv, len(r.value))
	}
	fmt.Fprintf(w, "%-*s | %-*s | %s\n", wm, "measure", wv, "value", "goal")
	fmt.Fprintf(w, "%s-|-%s-|-%s\n", strings.Repeat("-", wm), strings.Repeat("-", wv), "----")
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s | %-*s | %s\n", wm, r.measure, wv, r.value, r.goal)
	}
}
