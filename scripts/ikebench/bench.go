package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"alixsec.dev/scripts/interop"
)

// The suite both responders are measured with (issue 4: ECDSA P-256 +
// X25519).
const (
	benchIKE = interop.BenchIKEProposal
	benchESP = interop.BenchESPProposal
)

// firstLoadHost is the last octet of the first initiator address added to
// the initiator's namespace (Pair.A has .1, the responder .2).
const firstLoadHost = 11

// bench measures both responders and the instruction count and returns the
// table rows (those it got, also on error).
func bench(ctx context.Context, o options, logw io.Writer) (rows []row, err error) {
	logf := func(f string, a ...any) { fmt.Fprintf(logw, "ikebench: "+f+"\n", a...) }
	if o.c > 200 {
		return nil, errors.New("-c: at most 200 initiator addresses fit the /24")
	}
	root, err := interop.RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := installDeps(ctx, root, !o.skipInsn); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ikebench-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if removed, err := interop.CleanLeftovers(); err != nil {
		logf("leftover namespaces: %v", err)
	} else if len(removed) > 0 {
		logf("removed leftover namespaces %v", removed)
	}

	logf("building the test PKI and charon's responder")
	r, err := interop.StartCharonResponder(ctx, root, filepath.Join(dir, "charon"), false)
	if err != nil {
		return nil, fmt.Errorf("charon responder: %w", err)
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	credDir := filepath.Join(dir, "creds")
	if err := os.MkdirAll(credDir, 0o700); err != nil {
		return nil, fmt.Errorf("credential directory: %w", err)
	}
	if err := writeCredDir(r.PKI, credDir); err != nil {
		return nil, err
	}
	var targets []*loadTarget
	if !o.skipCharon {
		targets = append(targets, &loadTarget{name: "charon", node: r.Pair.A, addr: r.Addr, log: r.Charon.Log})
	}
	if !o.skipIkesvc {
		// ikesvc answers from a second, identical namespace pair, so both
		// responders run side by side and the rounds can alternate.
		// (No := with err here: the deferred joins must reach the result.)
		pair, perr := interop.NewPair(ctx, "load", interop.HostSun)
		if perr != nil {
			return nil, fmt.Errorf("namespace pair for ikesvc: %w", perr)
		}
		defer func() { err = errors.Join(err, pair.Close()) }()
		svc, serr := startIkesvcResponder(ctx, root, dir, r.PKI, pair)
		if serr != nil {
			return nil, serr
		}
		defer func() { err = errors.Join(err, svc.Stop()) }()
		targets = append([]*loadTarget{{name: "ikesvc", node: pair.A, addr: pair.B.IPv4, log: svc.Log}}, targets...)
	}
	for _, t := range targets {
		if t.locals, err = addLoadAddresses(ctx, t.node, o.c); err != nil {
			return nil, err
		}
	}
	// Alternate short rounds between the responders: whatever else runs
	// on this machine meanwhile then slows both alike.
	per := (o.n + o.rounds - 1) / o.rounds
	for round := 0; round < o.rounds; round++ {
		for _, t := range targets {
			res, err := loadIn(ctx, t.node.NS, t.addr, t.locals, credDir, per, o)
			if err != nil {
				return nil, fmt.Errorf("load against %s: %w\n%s", t.name, err, tailLines(t.log(), 20))
			}
			t.add(res)
		}
	}
	rate := func(res loadResult) string {
		s := fmt.Sprintf("%.1f", res.Rate())
		if res.Failed > 0 {
			s += fmt.Sprintf(" (%d failed)", res.Failed)
		}
		return s
	}
	for _, t := range targets {
		res := t.total
		logf("%s: %d handshakes in %v (%d rounds, %d initiators); the load generator used %.2f of %d CPUs",
			t.name, res.Done, res.Elapsed.Round(time.Millisecond), o.rounds, o.c, res.LoadCPU.Seconds()/res.Elapsed.Seconds(), runtime.NumCPU())
		if res.Failed > 0 {
			logf("%s: %d handshakes failed, first: %s", t.name, res.Failed, res.FirstErr)
		}
		rows = append(rows, row{"IKE handshakes/s " + t.name + " responder", rate(res), ""})
	}
	if len(targets) == 2 {
		ratio := targets[0].total.Rate() / targets[1].total.Rate()
		rows = append(rows, row{"ratio ikesvc/charon", fmt.Sprintf("%.2f %s", ratio, verdict(ratio >= goalRatio)), fmt.Sprintf(">= %.0f", goalRatio)})
	}
	if !o.skipInsn {
		logf("counting 386 softfloat instructions under qemu-i386 (%d handshakes)", o.k)
		tools, err := prepareInsnTools(ctx, root, dir)
		if err != nil {
			return rows, fmt.Errorf("instruction count: %w", err)
		}
		ir, err := countInstructions(ctx, insnSpec{
			tools: tools, credDir: credDir, ike: o.ike, esp: o.esp, warmup: 1, k: o.k,
		})
		if err != nil {
			return rows, fmt.Errorf("instruction count: %w", err)
		}
		rows = append(rows,
			row{"instructions per responder handshake (386 softfloat)",
				fmt.Sprintf("%.1f M %s", ir.PerResponder/1e6, verdict(ir.PerResponder <= goalInstructions)),
				fmt.Sprintf("<= %.0f M", goalInstructions/1e6)},
			row{"instructions per handshake, both ends (386 softfloat)", fmt.Sprintf("%.1f M", ir.PerPair/1e6), ""})
	}
	return rows, nil
}

func verdict(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(NOT met)"
}

// installDeps runs scripts/interop/deps.sh and, for the instruction count,
// the tools installInsnTools installs.
func installDeps(ctx context.Context, root string, insn bool) error {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "interop", "deps.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/interop/deps.sh: %w: %s", err, out)
	}
	if !insn {
		return nil
	}
	return installInsnTools(ctx)
}

// installInsnTools installs qemu-user (qemu-i386) and gcc (to build the
// plugin) when they are missing and we are root.
func installInsnTools(ctx context.Context) error {
	var missing []string
	for _, t := range []struct{ tool, pkg string }{{"qemu-i386", "qemu-user"}, {"cc", "gcc"}} {
		if _, err := exec.LookPath(t.tool); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing Debian packages %s: apt-get install them (as root), or -skip-insn and -skip-keygen", strings.Join(missing, " "))
	}
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "-q"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %w: %s", strings.Join(missing, " "), err, out)
	}
	return nil
}

// addLoadAddresses gives the initiator namespace n more IPv4 addresses,
// one per load worker: the engine sends from port 500 to port 500, so
// concurrent initiators need an address each.
func addLoadAddresses(ctx context.Context, node *interop.Node, n int) ([]netip.Addr, error) {
	base := node.IPv4.As4()
	var out []netip.Addr
	for i := 0; i < n; i++ {
		a := base
		a[3] = byte(firstLoadHost + i)
		addr := netip.AddrFrom4(a)
		cmd := exec.CommandContext(ctx, "ip", "-n", node.NS, "addr", "add", addr.String()+"/24", "dev", interop.LinkName)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("add load address %s in %s: %w: %s", addr, node.NS, err, b)
		}
		out = append(out, addr)
	}
	return out, nil
}

// loadIn runs this program's load mode in namespace ns and decodes its
// result.
func loadIn(ctx context.Context, ns string, target netip.Addr, locals []netip.Addr, credDir string, n int, o options) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, fmt.Errorf("find own executable: %w", err)
	}
	addrs := make([]string, len(locals))
	for i, a := range locals {
		addrs[i] = a.String()
	}
	args := []string{"netns", "exec", ns, self, "-mode", "load", "-target", target.String(),
		"-locals", strings.Join(addrs, ","), "-creds", credDir, "-n", strconv.Itoa(n),
		"-ike", o.ike, "-esp", o.esp}
	if o.warmup >= 0 {
		args = append(args, "-warmup", strconv.Itoa(o.warmup))
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("load generator: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res loadResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return loadResult{}, fmt.Errorf("load generator output %q: %w", stdout.String(), err)
	}
	return res, nil
}

// startIkesvcResponder builds ikesvc and starts it (memory kernel) on
// pair.B as sun, admitting every host of p's main CA from the whole
// initiator subnet.
func startIkesvcResponder(ctx context.Context, root, dir string, p *interop.PKI, pair *interop.Pair) (*interop.Ikesvc, error) {
	bin := filepath.Join(dir, "ikesvc")
	if err := interop.BuildIkesvc(ctx, root, bin); err != nil {
		return nil, fmt.Errorf("build ikesvc: %w", err)
	}
	remote := pair.A.IPv4
	cfg, err := interop.IkesvcConfig(p.Hosts[interop.HostSun], interop.IkesvcPeer{
		Name: "load", Local: pair.B.IPv4, Remote: remote, RemotePattern: interop.HostPattern,
		IKEProposal: benchIKE, ESPProposal: benchESP,
	})
	if err != nil {
		return nil, err
	}
	// Admit the whole subnet: each load worker has its own address.
	host := "remote-ts " + netip.PrefixFrom(remote, 32).String()
	if !strings.Contains(cfg, host) {
		return nil, fmt.Errorf("ikesvc config has no %q line to widen:\n%s", host, cfg)
	}
	cfg = strings.Replace(cfg, host, "remote-ts "+netip.PrefixFrom(remote, 24).Masked().String(), 1)
	svcDir := filepath.Join(dir, "ikesvc.d")
	if err := os.MkdirAll(svcDir, 0o700); err != nil {
		return nil, fmt.Errorf("ikesvc directory: %w", err)
	}
	svc, err := interop.StartIkesvc(ctx, bin, pair.B, svcDir, dir, cfg)
	if err != nil {
		return nil, fmt.Errorf("start ikesvc responder: %w", err)
	}
	return svc, nil
}

// loadTarget is one responder under load and its results summed over
// the rounds.
type loadTarget struct {
	name   string
	node   *interop.Node // the initiators' namespace
	addr   netip.Addr    // the responder
	locals []netip.Addr
	log    func() string
	total  loadResult
}

func (t *loadTarget) add(r loadResult) {
	t.total.Done += r.Done
	t.total.Failed += r.Failed
	t.total.Elapsed += r.Elapsed
	t.total.LoadCPU += r.LoadCPU
	if t.total.FirstErr == "" {
		t.total.FirstErr = r.FirstErr
	}
}

// tailLines returns the last n lines of s, for error messages.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
