package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// loadPeer is the peer name every load worker's engine uses for the
// responder.
const loadPeer = "bench"

// handshakeTimeout bounds one handshake of the load; a responder that
// drops requests shows up as failures, not as a hang.
const handshakeTimeout = 10 * time.Second

// loadSpec is one load run: n handshakes against target by one worker per
// local address (the engine talks from port 500 to port 500, so
// concurrent initiators need addresses of their own).
type loadSpec struct {
	target    netip.Addr
	locals    []netip.Addr
	n, warmup int
	credDir   string
	ike, esp  string
}

// loadResult is what a load run measured.
type loadResult struct {
	Done     int           // handshakes completed (CHILD_SA installed)
	Failed   int           // handshakes that timed out
	Elapsed  time.Duration // from the first counted Initiate to the last completion
	FirstErr string        // the first failure's reason
	// LoadCPU is the CPU time the load generator itself used while
	// counting: near Elapsed x CPUs means the initiators, not the
	// responder, set the pace.
	LoadCPU time.Duration
}

// Rate is completed handshakes per second.
func (r loadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Done) / r.Elapsed.Seconds()
}

// runLoad runs spec.warmup uncounted handshakes, then spec.n counted ones,
// spread over the workers, and reports the counted ones.
func runLoad(ctx context.Context, spec loadSpec) (loadResult, error) {
	host, err := loadHost(spec.credDir, initiatorName)
	if err != nil {
		return loadResult{}, err
	}
	sun, err := loadHost(spec.credDir, responderName)
	if err != nil {
		return loadResult{}, err
	}
	peer, err := initiatorPeer(spec.target, sun.id, spec.ike, spec.esp)
	if err != nil {
		return loadResult{}, err
	}
	workers := make([]*loadWorker, 0, len(spec.locals))
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	for _, local := range spec.locals {
		w, err := newLoadWorker(local, host, peer)
		if err != nil {
			return loadResult{}, err
		}
		workers = append(workers, w)
	}
	if _, err := drive(ctx, workers, spec.warmup); err != nil {
		return loadResult{}, fmt.Errorf("warm-up: %w", err)
	}
	return drive(ctx, workers, spec.n)
}

// drive makes the workers complete n handshakes between them.
func drive(ctx context.Context, workers []*loadWorker, n int) (loadResult, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var res loadResult
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				err := w.handshake(ctx)
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
				} else {
					res.Done++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.LoadCPU = cpuTime() - cpu0
	if res.Done == 0 && n > 0 {
		return res, fmt.Errorf("no handshake completed: %s", res.FirstErr)
	}
	return res, ctx.Err()
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// initiatorPeer is the load's peer entry: the responder at target,
// authenticated as responderID, tunnel mode, host to host.
func initiatorPeer(target netip.Addr, responderID, ikeProp, espProp string) (ike.PeerConfig, error) {
	m, err := pki.ParsePeerMatcher(responderID)
	if err != nil {
		return ike.PeerConfig{}, fmt.Errorf("responder identity %q: %w", responderID, err)
	}
	ikeP, err := suite.ParseProposals(wire.ProtocolIKE, ikeProp)
	if err != nil {
		return ike.PeerConfig{}, fmt.Errorf("IKE proposal %q: %w", ikeProp, err)
	}
	espP, err := suite.ParseProposals(wire.ProtocolESP, espProp)
	if err != nil {
		return ike.PeerConfig{}, fmt.Errorf("ESP proposal %q: %w", espProp, err)
	}
	return ike.PeerConfig{
		Name: loadPeer, Remote: target, RemoteID: m, Mode: kernel.ModeTunnel,
		IKE: ikeP, ESP: espP, StartAction: ike.StartNone,
	}, nil
}

// loadWorker is one initiator engine with its own address and sockets.
type loadWorker struct {
	engine *ike.Engine
	udp    *udpPair
	kern   *signalKernel
}

func newLoadWorker(local netip.Addr, host *hostCreds, peer ike.PeerConfig) (*loadWorker, error) {
	mem, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
	if err != nil {
		return nil, fmt.Errorf("load worker %s: %w", local, err)
	}
	w := &loadWorker{kern: &signalKernel{Memory: mem, installed: make(chan struct{}, 1)}}
	if w.udp, err = listenPair(local, 500, 4500); err != nil {
		return nil, fmt.Errorf("load worker %s: %w", local, err)
	}
	w.engine, err = ike.New(ike.Config{
		Transport: w.udp, Kernel: w.kern, Trust: host.trust, Creds: host.creds,
		LocalAddr: func(netip.Addr) (netip.Addr, error) { return local, nil },
	})
	if err != nil {
		w.udp.Close()
		return nil, fmt.Errorf("load worker %s: %w", local, err)
	}
	go w.udp.serve(w.engine.HandlePacket)
	if _, err := w.engine.SetPeers([]ike.PeerConfig{peer}); err != nil {
		w.close()
		return nil, fmt.Errorf("load worker %s: %w", local, err)
	}
	return w, nil
}

// handshake initiates one IKE SA, waits until its CHILD_SA is installed
// (the IKE_AUTH response arrived and its AUTH verified) and deletes it
// again, so the responder does not accumulate SAs.
func (w *loadWorker) handshake(ctx context.Context) error {
	select { // a stale signal from an earlier, timed-out round
	case <-w.kern.installed:
	default:
	}
	if err := w.engine.Initiate(loadPeer); err != nil {
		return err
	}
	t := time.NewTimer(handshakeTimeout)
	defer t.Stop()
	var err error
	select {
	case <-w.kern.installed:
	case <-t.C:
		err = fmt.Errorf("no CHILD_SA after %v", handshakeTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if terr := w.engine.Terminate(loadPeer); terr != nil {
		err = errors.Join(err, terr)
	}
	return err
}

func (w *loadWorker) close() {
	w.engine.Close()
	w.udp.Close()
}

// signalKernel is a memory backend that signals each time an Apply
// installs SAs where there were none: the initiator's CHILD_SA is up.
type signalKernel struct {
	*kernel.Memory
	mu        sync.Mutex
	had       bool
	installed chan struct{}
}

func (k *signalKernel) Apply(ctx context.Context, s kernel.Set) (kernel.Changes, error) {
	ch, err := k.Memory.Apply(ctx, s)
	k.mu.Lock()
	has := len(s.SAs) > 0
	if has && !k.had {
		select {
		case k.installed <- struct{}{}:
		default:
		}
	}
	k.had = has
	k.mu.Unlock()
	return ch, err
}

// udpPair is an initiator's two sockets: IKE and NAT-T (charon's
// kernel-libipsec always floats to NAT-T), implementing ike.Transport.
type udpPair struct {
	ike, natt *net.UDPConn
	ikePort   uint16
	nattPort  uint16
}

func listenPair(local netip.Addr, ikePort, nattPort uint16) (*udpPair, error) {
	p := &udpPair{ikePort: ikePort, nattPort: nattPort}
	var err error
	if p.ike, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, ikePort))); err != nil {
		return nil, fmt.Errorf("IKE socket: %w", err)
	}
	if p.natt, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, nattPort))); err != nil {
		p.ike.Close()
		return nil, fmt.Errorf("NAT-T socket: %w", err)
	}
	return p, nil
}

// Send implements ike.Transport; it prepends the non-ESP marker on the
// NAT-T port (RFC 3948).
func (p *udpPair) Send(packet []byte, from, to netip.AddrPort) error {
	if from.Port() == p.nattPort {
		_, err := p.natt.WriteToUDPAddrPort(append([]byte{0, 0, 0, 0}, packet...), to)
		return err
	}
	_, err := p.ike.WriteToUDPAddrPort(packet, to)
	return err
}

// serve hands every received IKE message to handle until Close.
func (p *udpPair) serve(handle func(packet []byte, from, to netip.AddrPort)) {
	var wg sync.WaitGroup
	for _, c := range []*net.UDPConn{p.ike, p.natt} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			natt := c == p.natt
			local := netip.MustParseAddrPort(c.LocalAddr().String())
			buf := make([]byte, 65536)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				data := buf[:n]
				if natt {
					if n < 4 || [4]byte(data[:4]) != [4]byte{} {
						continue // keepalive or ESP: not IKE
					}
					data = data[4:]
				}
				from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
				handle(append([]byte(nil), data...), from, local)
			}
		}()
	}
	wg.Wait()
}

// Close closes both sockets, ending serve.
func (p *udpPair) Close() error {
	return errors.Join(p.ike.Close(), p.natt.Close())
}
