package ike

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"sync"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

// Engine runs the IKE SAs of one host: it consumes datagrams and kernel
// events, sends through a Transport and installs CHILD_SAs through a
// kernel.Backend. One mutex guards everything; handshakes are short and
// the boards run one or two peers, so serialising them costs nothing
// while keeping the state machine free of races.
type Engine struct {
	cfg   Config
	log   Logger
	clock Clock
	rand  io.Reader

	mu       sync.Mutex
	closed   bool
	peers    map[string]*peer
	reqids   map[string]uint32 // stable per peer name across reloads
	sas      map[uint64]*ikeSA // by our own SPI
	halfOpen map[halfOpenKey]*ikeSA
	applyErr string // last kernel Apply failure, logged once
	cookies  cookieSecrets
	// Load reports, each logged once per LoadLogInterval.
	cookieLog, capLog rateLog
	noKeepalive       bool // the transport cannot send keepalives (logged once)
	// lingering are inbound SAs of replaced CHILD_SAs, kept for
	// RekeyedInboundGrace (childinstall.go); linger removes them.
	lingering []lingerSA
	linger    *timer
	// invalidSPISent rate-limits our INVALID_IKE_SPI answers (dpd.go).
	invalidSPISent map[netip.Addr]invalidSPIWindow

	loadLog   loadLogs      // per-source admission reports (halfopen.go)
	malformed malformedLogs // bad datagrams, per reason (hardening.go)
	// Restart without loss (persist.go, restore.go, stale.go).
	persist persistence
}

// peer is a configured peer and its runtime state.
type peer struct {
	cfg     PeerConfig
	reqid   uint32
	restart *timer
	removed bool
	// lastRemote is where a respond-only peer's dead IKE SA was; dpdTrap:
	// dead peer detection installed trap policies (dpd.go).
	lastRemote netip.Addr
	dpdTrap    bool
}

// halfOpenKey finds a responder SA by the initiator's SPI and address, for
// retransmitted IKE_SA_INIT requests (whose responder SPI is still zero).
type halfOpenKey struct {
	spiI   uint64
	remote netip.AddrPort
}

// ErrUnknownPeer is returned by Initiate and Terminate for a name that is
// not configured.
var ErrUnknownPeer = errors.New("unknown peer")

// New returns an Engine with no peers; call SetPeers.
func New(cfg Config) (*Engine, error) {
	if cfg.Transport == nil || cfg.Kernel == nil {
		return nil, errors.New("ike: engine needs a transport and a kernel backend")
	}
	if cfg.Trust == nil || cfg.Creds.Key == nil || cfg.Creds.Cert == nil {
		return nil, errors.New("ike: engine needs a trust store, a private key and a certificate")
	}
	if cfg.Port == 0 {
		cfg.Port = 500
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = 4500
	}
	cfg.applyLoadDefaults()
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.Ownership == (kernel.Ownership{}) {
		cfg.Ownership = kernel.DefaultOwnership()
	}
	e := &Engine{
		cfg: cfg, log: cfg.Log, clock: cfg.Clock, rand: cfg.Random,
		peers: map[string]*peer{}, reqids: map[string]uint32{},
		sas: map[uint64]*ikeSA{}, halfOpen: map[halfOpenKey]*ikeSA{},
		invalidSPISent: map[netip.Addr]invalidSPIWindow{},
		persist:        newPersistence(),
	}
	if e.clock == nil {
		e.clock = RealClock{}
	}
	e.linger = e.newTimer(e.expiredLinger)
	if e.rand == nil {
		e.rand = rand.Reader
	}
	discard := func(string, ...any) {}
	if e.log.Verbosef == nil {
		e.log.Verbosef = discard
	}
	if e.log.Errorf == nil {
		e.log.Errorf = discard
	}
	return e, nil
}

// SetPeers replaces the peer list and applies only the difference: removed
// and changed peers have their SAs deleted, changed and new peers follow
// their start action, unchanged peers are not touched. It returns the names
// of the peers it (re)started or removed.
func (e *Engine) SetPeers(peers []PeerConfig) (changed []string, err error) {
	seen := map[string]bool{}
	for i := range peers {
		if err := peers[i].validate(); err != nil {
			return nil, err
		}
		if seen[peers[i].Name] {
			return nil, fmt.Errorf("peer %s: configured twice", peers[i].Name)
		}
		seen[peers[i].Name] = true
	}
	e.lock()
	defer e.unlock()
	if e.closed {
		return nil, errors.New("ike: engine closed")
	}
	restarted := e.adoptRestored(peers)
	for name, p := range e.peers {
		if !seen[name] {
			e.removePeer(p, "removed from the configuration")
			changed = append(changed, name)
		}
	}
	var start []*peer
	for i := range peers {
		pc := peers[i]
		if old, ok := e.peers[pc.Name]; ok {
			if old.cfg.Equal(&pc) {
				continue
			}
			if old.cfg.sameNegotiation(&pc) {
				if e.retunePeer(old, pc) {
					start = append(start, old)
				}
				changed = append(changed, pc.Name)
				continue
			}
			e.removePeer(old, "configuration changed")
		}
		reqid, err := e.reqidFor(pc.Name)
		if err != nil {
			return changed, err
		}
		p := &peer{cfg: pc, reqid: reqid}
		p.restart = e.newTimer(func() { e.startPeer(p) })
		e.peers[pc.Name] = p
		changed = append(changed, pc.Name)
		start = append(start, p)
	}
	e.syncKernel()
	for _, p := range append(restarted, start...) {
		if p.cfg.StartAction == StartStart {
			e.startPeer(p)
		}
	}
	sort.Strings(changed)
	return changed, nil
}

func (e *Engine) reqidFor(name string) (uint32, error) {
	if r, ok := e.reqids[name]; ok {
		return r, nil
	}
	used := map[uint32]bool{}
	for _, r := range e.reqids {
		used[r] = true
	}
	for r := e.cfg.Ownership.ReqidMin; r <= e.cfg.Ownership.ReqidMax && r != 0; r++ {
		if !used[r] {
			e.reqids[name] = r
			return r, nil
		}
	}
	return 0, fmt.Errorf("peer %s: no free reqid in the owned range", name)
}

// removePeer deletes the peer's SAs (telling the peer) and forgets it.
func (e *Engine) removePeer(p *peer, why string) {
	p.removed = true
	p.restart.Del()
	for _, sa := range e.sasOf(p) {
		e.log.Verbosef("ike: peer %s: deleting IKE SA %x: %s", p.cfg.Name, sa.ourSPI(), why)
		sa.delete()
	}
	delete(e.peers, p.cfg.Name)
}

// sasOf lists the live IKE SAs of p, oldest first.
func (e *Engine) sasOf(p *peer) []*ikeSA {
	var out []*ikeSA
	for _, sa := range e.sas {
		if sa.peer == p && sa.state != StateClosed {
			out = append(out, sa)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].created.Before(out[j].created) })
	return out
}

// Initiate starts an IKE SA with the named peer unless one is already up
// or being set up.
func (e *Engine) Initiate(name string) error {
	e.lock()
	defer e.unlock()
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("initiate %s: %w", name, ErrUnknownPeer)
	}
	if !p.cfg.Remote.IsValid() {
		return fmt.Errorf("initiate %s: the peer has no address (respond only)", name)
	}
	for _, sa := range e.sasOf(p) {
		if sa.state != StateDeleting {
			return nil
		}
	}
	return e.initiate(p)
}

// startPeer is the restart timer's and the start action's entry.
func (e *Engine) startPeer(p *peer) {
	if p.removed {
		return
	}
	for _, sa := range e.sasOf(p) {
		if sa.state != StateDeleting {
			return
		}
	}
	if err := e.initiate(p); err != nil {
		e.log.Errorf("ike: peer %s: cannot initiate: %v", p.cfg.Name, err)
		p.restart.Mod(RestartDelay)
	}
}

// Terminate deletes every IKE SA (and so every CHILD_SA) of the named peer.
// A peer with start action "start" is not restarted until Initiate.
func (e *Engine) Terminate(name string) error {
	e.lock()
	defer e.unlock()
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("terminate %s: %w", name, ErrUnknownPeer)
	}
	p.restart.Del()
	for _, sa := range e.sasOf(p) {
		sa.noRestart = true
		sa.delete()
	}
	return nil
}

// Close deletes all IKE SAs (one Delete sent each, not waited for),
// uninstalls everything from the kernel and stops the timers.
func (e *Engine) Close() error {
	e.lock()
	defer e.unlock()
	if e.closed {
		return nil
	}
	for _, sa := range e.sas {
		if sa.state == StateEstablished {
			sa.sendDeleteOnce()
		}
		sa.state = StateClosed
		sa.timersStop()
	}
	for _, p := range e.peers {
		p.restart.Del()
	}
	e.sas = map[uint64]*ikeSA{}
	e.halfOpen = map[halfOpenKey]*ikeSA{}
	e.peers = map[string]*peer{}
	e.lingering = nil
	e.linger.Del()
	e.dropAllStale()
	e.saveState() // nothing left to continue
	e.closed = true
	_, err := e.cfg.Kernel.Apply(context.Background(), kernel.Set{})
	if err != nil {
		return fmt.Errorf("ike: uninstalling SAs and policies: %w", err)
	}
	return nil
}

// HandleKernelEvent reacts to acquires (trap policies) and SA expiries.
func (e *Engine) HandleKernelEvent(ev kernel.Event) {
	e.lock()
	defer e.unlock()
	if e.closed {
		return
	}
	switch ev.Kind {
	case kernel.EventAcquire:
		for _, p := range e.peers {
			if p.reqid == ev.Acquire.Reqid {
				e.log.Verbosef("ike: peer %s: acquire for %s", p.cfg.Name, ev.Acquire.Flow)
				e.startPeer(p)
				return
			}
		}
	case kernel.EventSoftExpire, kernel.EventHardExpire:
		for _, sa := range e.sas {
			for _, c := range sa.children {
				if c.inSA.ID() == ev.Expire.SA || c.outSA.ID() == ev.Expire.SA {
					if ev.Kind == kernel.EventSoftExpire {
						sa.rekeyChild(c)
					} else {
						e.log.Errorf("ike: peer %s: CHILD_SA %08x_i %08x_o hit its hard lifetime; deleting it", sa.peerName(), c.inSPI, c.outSPI)
						c.hardExpired = true
						sa.removeChild(c)
						e.syncKernel()
						sa.deleteChild(c, "hard lifetime") // tell the peer; c is already gone here
					}
					return
				}
			}
		}
	}
}

// send hands a datagram to the transport, logging failures. Inside an
// entry point (lock/unlock) it only queues the datagram: unlock saves the
// state first, so nothing the peer sees is lost in a crash (persist.go).
func (e *Engine) send(packet []byte, from, to netip.AddrPort) {
	if e.persist.inEntry {
		e.persist.outbox = append(e.persist.outbox, outgoing{packet, from, to})
		return
	}
	e.transmit(packet, from, to)
}

func (e *Engine) transmit(packet []byte, from, to netip.AddrPort) {
	if err := e.cfg.Transport.Send(packet, from, to); err != nil {
		e.log.Verbosef("ike: sending %d bytes %v -> %v: %v", len(packet), from, to, err)
	}
}

func (e *Engine) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.rand, b); err != nil {
		return nil, fmt.Errorf("reading %d random bytes: %w", n, err)
	}
	return b, nil
}

// newSPI returns a random non-zero IKE SPI not in use here.
func (e *Engine) newSPI() (uint64, error) {
	for {
		b, err := e.randomBytes(8)
		if err != nil {
			return 0, err
		}
		spi := binary.BigEndian.Uint64(b)
		if _, used := e.sas[spi]; spi != 0 && !used {
			return spi, nil
		}
	}
}

// now is the engine's clock.
func (e *Engine) now() time.Time { return e.clock.Now() }
