package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/scripts/interop"
)

// goalHeapPerSA is issue 9's goal for the heap one established IKE SA
// with its CHILD_SA costs ikesvc.
const goalHeapPerSA = 8 * 1024

// heapResult is what -mode heap prints (JSON): the live heap, after a
// full GC, of two engines in this process before and after n IKE SA +
// CHILD SA pairs between them were established.
type heapResult struct {
	N        int
	GOARCH   string
	Before   uint64  // HeapAlloc with both engines and their n peers each, no SA yet
	After    uint64  // HeapAlloc with n established IKE SAs + CHILD SAs at each end
	PerSA    float64 // (After-Before) / (2n): one engine's IKE SA + CHILD SA
	PerPair  float64 // (After-Before) / n: both ends of one
	Profiled string  `json:",omitempty"` // heap profile file, when asked for
}

// heapNet delivers datagrams between the engines in the caller's
// goroutine; Send may also be called from a timer's goroutine.
type heapNet struct {
	mu      sync.Mutex
	queue   []datagram
	engines map[netip.Addr]*ike.Engine
}

func (n *heapNet) Send(packet []byte, from, to netip.AddrPort) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queue = append(n.queue, datagram{slices.Clone(packet), from, to})
	return nil
}

func (n *heapNet) run() error {
	for i := 0; ; i++ {
		if i > 1000 {
			return fmt.Errorf("heap pair: datagrams never stop")
		}
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.queue = nil // drop the backing array: it is not the engines'
			n.mu.Unlock()
			return nil
		}
		d := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		if e := n.engines[d.to.Addr()]; e != nil {
			e.HandlePacket(d.data, d.from, d.to)
		}
	}
}

// spiKernel is a kernel backend that hands out SPIs and keeps nothing:
// on a board the SAs and policies live in the kernel's memory, not in
// ikesvc's heap, and the memory backend's copy of them would be counted
// here as if it were ikesvc's.
type spiKernel struct {
	mu   sync.Mutex
	next uint32
}

func (k *spiKernel) Apply(context.Context, kernel.Set) (kernel.Changes, error) {
	return kernel.Changes{}, nil
}

func (k *spiKernel) List(context.Context) (kernel.Set, error) { return kernel.Set{}, nil }

func (k *spiKernel) Counters(context.Context, kernel.SAID) (kernel.Counters, error) {
	return kernel.Counters{}, kernel.ErrNotFound
}

func (k *spiKernel) AllocSPI(context.Context, netip.Addr, netip.Addr, uint32) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.next++
	return 0x10000 + k.next, nil
}

func (k *spiKernel) DeleteSA(context.Context, kernel.SAID) error { return nil }

func (k *spiKernel) Events(ctx context.Context) (<-chan kernel.Event, error) {
	ch := make(chan kernel.Event)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch, nil
}

func (k *spiKernel) Close() error { return nil }

// heapAddr is the i-th address of the /16 net.x.y (i < 65000).
func heapAddr(net byte, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, net, byte(i / 250), byte(i%250 + 1)})
}

// liveHeap is the heap in use after two full collections (the second
// frees what finalizers of the first released).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// runHeap establishes n IKE SAs, each with one transport-mode CHILD_SA,
// between n initiator engines and one responder engine in this process
// (real timers as in ikesvc, a kernel backend that keeps nothing) and
// prints a heapResult. Each initiator is a peer of its own, with its own
// address, certificate and identity, as n boards would be: the responder
// has a peer entry for each, and an INITIAL_CONTACT from one identity
// never drops another's SA. The PKI (root, intermediate, the responder
// and the n initiators, ECDSA P-256) is made here, the responder's
// identity is sun's of the test PKI. Everything but the SAs exists before
// the first measurement. With profile set, a heap profile of the
// established state goes there.
func runHeap(ikeProp, espProp string, n int, profile string, stdout io.Writer) error {
	if profile != "" {
		runtime.MemProfileRate = 1 // every allocation, not one per 512 KiB
	}
	ca, err := newHeapPKI()
	if err != nil {
		return err
	}
	net := &heapNet{engines: map[netip.Addr]*ike.Engine{}}
	quiet := ike.Logger{Verbosef: func(string, ...any) {}, Errorf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "ikebench heap: "+f+"\n", a...) }}
	newEngine := func(creds ike.Credentials, local netip.Addr) (*ike.Engine, error) {
		cfg := ike.Config{
			Transport: net, Kernel: &spiKernel{}, Clock: ike.RealClock{}, Trust: ca.trust, Creds: creds, Log: quiet,
		}
		if local.IsValid() {
			cfg.LocalAddr = func(netip.Addr) (netip.Addr, error) { return local, nil }
		}
		e, err := ike.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("heap engine: %w", err)
		}
		return e, nil
	}
	sun, err := ca.issue("sun")
	if err != nil {
		return err
	}
	resp, err := newEngine(sun, netip.Addr{})
	if err != nil {
		return err
	}
	defer resp.Close()
	anyHost, err := pki.ParsePeerMatcher(interop.HostPattern)
	if err != nil {
		return err
	}
	type initiator struct {
		e    *ike.Engine
		peer string
	}
	var inits []initiator
	var rps []ike.PeerConfig
	for i := range n {
		creds, err := ca.issue(fmt.Sprintf("moon%d", i))
		if err != nil {
			return err
		}
		e, err := newEngine(creds, heapAddr(1, i))
		if err != nil {
			return err
		}
		defer e.Close()
		net.engines[heapAddr(1, i)], net.engines[heapAddr(2, i)] = e, resp
		ip, err := initiatorPeer(heapAddr(2, i), pki.DNString(sun.Cert.RawSubject), ikeProp, espProp)
		if err != nil {
			return err
		}
		ip.Name, ip.Mode = fmt.Sprintf("p%d", i), kernel.ModeTransport
		if _, err := e.SetPeers([]ike.PeerConfig{ip}); err != nil {
			return err
		}
		rp := ip
		rp.Remote, rp.RemoteID = heapAddr(1, i), anyHost
		rps = append(rps, rp)
		inits = append(inits, initiator{e, ip.Name})
	}
	if _, err := resp.SetPeers(rps); err != nil {
		return err
	}
	ctx := context.Background()
	res := heapResult{N: n, GOARCH: runtime.GOARCH}
	res.Before = liveHeap()
	for _, in := range inits {
		if err := in.e.Initiate(in.peer); err != nil {
			return err
		}
		if err := net.run(); err != nil {
			return err
		}
	}
	res.After = liveHeap()
	count := func(e *ike.Engine) (all, established int) {
		st := e.Status(ctx)
		for _, sa := range st {
			if sa.State == "established" && len(sa.Children) == 1 {
				established++
			}
		}
		return len(st), established
	}
	if all, ok := count(resp); all != n || ok != n {
		return fmt.Errorf("heap pair: the responder holds %d IKE SAs, %d established with one CHILD_SA; want %d", all, ok, n)
	}
	for i, in := range inits {
		if all, ok := count(in.e); all != 1 || ok != 1 {
			return fmt.Errorf("heap pair: initiator %d holds %d IKE SAs, %d established with one CHILD_SA; want 1", i, all, ok)
		}
	}
	if profile != "" {
		if err := writeHeapProfile(profile); err != nil {
			return err
		}
		res.Profiled = profile
	}
	grown := float64(res.After) - float64(res.Before)
	res.PerPair = grown / float64(n)
	res.PerSA = res.PerPair / 2
	runtime.KeepAlive(inits)
	runtime.KeepAlive(resp)
	return json.NewEncoder(stdout).Encode(res)
}

// heapPKI is the in-process CA of the heap measure: a root and an
// intermediate (ECDSA P-256) whose subjects are the test PKI's, so that
// interop.HostPattern admits the hosts it issues.
type heapPKI struct {
	inter    *x509.Certificate
	interKey *ecdsa.PrivateKey
	trust    *pki.TrustStore
	serial   int64
}

func newHeapPKI() (*heapPKI, error) {
	p := &heapPKI{}
	root, rootKey, err := p.sign("Interop Root CA", true, nil, nil)
	if err != nil {
		return nil, err
	}
	if p.inter, p.interKey, err = p.sign("Interop Intermediate CA", true, root, rootKey); err != nil {
		return nil, err
	}
	p.trust, err = pki.NewTrustStore(pki.TrustConfig{
		Roots: []*x509.Certificate{root}, Intermediates: []*x509.Certificate{p.inter}, CRLPolicy: pki.CRLRelaxed,
	})
	if err != nil {
		return nil, fmt.Errorf("heap PKI: %w", err)
	}
	return p, nil
}

// issue makes a host key and certificate (CN=name) under the
// intermediate.
func (p *heapPKI) issue(name string) (ike.Credentials, error) {
	cert, key, err := p.sign(name, false, p.inter, p.interKey)
	if err != nil {
		return ike.Credentials{}, err
	}
	return ike.Credentials{Key: key, Cert: cert, Intermediates: []*x509.Certificate{p.inter}}, nil
}

func (p *heapPKI) sign(cn string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("heap PKI: %w", err)
	}
	p.serial++
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{Country: []string{"CH"}, Organization: []string{"alixsec interop"}, CommonName: cn},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if ca {
		tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("heap PKI: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("heap PKI: %w", err)
	}
	return cert, key, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

// heapOptions are the -heap flags.
type heapOptions struct {
	skip    bool
	n       int
	profile string
}

// benchHeap runs -mode heap as a child process, once as this host's build
// and once as the 386 softfloat build under qemu-i386 (the board's word
// size: pointers and slice headers are half as big), and returns the
// table rows. A heap profile (-heap-profile) is of
// the host's run.
func benchHeap(o options, logw io.Writer) ([]row, error) {
	logf := func(f string, a ...any) { fmt.Fprintf(logw, "ikebench: "+f+"\n", a...) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := interop.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ikebench-heap-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	args := []string{"-mode", "heap", "-ike", o.ike, "-esp", o.esp, "-heap-n", strconv.Itoa(o.heap.n)}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	var rows []row
	// The goal is the board's: the 386 build. A 64-bit host's figure is
	// larger (pointers, slice headers, crypto/aes's GCM tables) and only
	// shown for comparison.
	add := func(res heapResult) {
		logf("heap (%s): %d IKE SA + CHILD SA pairs: live heap %d -> %d bytes, %.0f bytes per pair (both ends)",
			res.GOARCH, res.N, res.Before, res.After, res.PerPair)
		r := row{measure: fmt.Sprintf("heap per IKE SA + CHILD SA (%s, %d established)", res.GOARCH, res.N),
			value: fmt.Sprintf("%.0f B", res.PerSA)}
		if res.GOARCH == "386" {
			r.value += " " + verdict(res.PerSA <= goalHeapPerSA)
			r.goal = fmt.Sprintf("<= %d KiB", goalHeapPerSA/1024)
		}
		rows = append(rows, r)
	}
	logf("heap: establishing %d IKE SA + CHILD SA pairs in process (%s)", o.heap.n, runtime.GOARCH)
	hostArgs := args
	if o.heap.profile != "" {
		hostArgs = append(slices.Clip(args), "-heap-profile", o.heap.profile)
	}
	res, err := heapRun(exec.CommandContext(ctx, self, hostArgs...))
	if err != nil {
		return nil, err
	}
	add(res)
	qemu, err := exec.LookPath("qemu-i386")
	if err != nil {
		logf("heap: no qemu-i386 (Debian package qemu-user): 386 figure left out")
		return rows, nil
	}
	bin := filepath.Join(dir, "ikebench-386")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./scripts/ikebench")
	build.Dir = root
	build.Env = append(os.Environ(), "GOARCH=386", "GO386=softfloat", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return rows, fmt.Errorf("build 386 softfloat program: %w: %s", err, out)
	}
	logf("heap: the same under qemu-i386 (386 softfloat)")
	cmd := exec.CommandContext(ctx, qemu, append([]string{bin}, args...)...)
	// As for the instruction count (insn.go): one P, no asynchronous
	// preemption under qemu-user.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1")
	if res, err = heapRun(cmd); err != nil {
		return rows, err
	}
	add(res)
	return rows, nil
}

// heapRun runs a -mode heap child and decodes its result.
func heapRun(cmd *exec.Cmd) (heapResult, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return heapResult{}, fmt.Errorf("heap measure %s: %w: %s", filepath.Base(cmd.Path), err, strings.TrimSpace(stderr.String()))
	}
	var res heapResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return heapResult{}, fmt.Errorf("heap measure output %q: %w", stdout.String(), err)
	}
	return res, nil
}
