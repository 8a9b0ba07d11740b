package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/scripts/interop"
)

// Gate markers: the instruction-counting qemu plugin (insnplugin.c.txt)
// counts only while the gate is open. The program opens and closes it with
// personality(0xffffffff, MAGIC): personality with 0xffffffff only queries
// the persona, so the call changes nothing, and the runtime never makes it.
const (
	gateQuery = 0xffffffff
	gateOpen  = 0x1ce0001
	gateClose = 0x1ce0000
)

func setGate(open bool) {
	magic := uintptr(gateClose)
	if open {
		magic = gateOpen
	}
	syscall.RawSyscall(syscall.SYS_PERSONALITY, gateQuery, magic, 0)
}

// Addresses of the in-process pair (never on a wire).
var (
	pairInitiator = netip.MustParseAddr("10.0.0.1")
	pairResponder = netip.MustParseAddr("10.0.0.2")
)

// stillClock never fires timers: the in-process handshake is a fixed
// sequence of HandlePacket calls and must not retransmit.
type stillClock struct{}

func (stillClock) Now() time.Time { return time.Now() }

func (stillClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return true } }

type datagram struct {
	data     []byte
	from, to netip.AddrPort
}

// pairNet delivers datagrams between two engines in the caller's
// goroutine, opening the gate around the responder's HandlePacket while
// counting is on.
type pairNet struct {
	queue     []datagram
	engines   map[netip.Addr]*ike.Engine
	responder netip.Addr
	counting  bool
}

func (n *pairNet) Send(packet []byte, from, to netip.AddrPort) error {
	n.queue = append(n.queue, datagram{slices.Clone(packet), from, to})
	return nil
}

func (n *pairNet) run() error {
	for i := 0; len(n.queue) > 0; i++ {
		if i > 1000 {
			return fmt.Errorf("in-process pair: datagrams never stop")
		}
		d := n.queue[0]
		n.queue = n.queue[1:]
		e := n.engines[d.to.Addr()]
		if e == nil {
			continue
		}
		gate := n.counting && d.to.Addr() == n.responder
		if gate {
			setGate(true)
		}
		e.HandlePacket(d.data, d.from, d.to)
		if gate {
			setGate(false)
		}
	}
	return nil
}

// runPair does warmup uncounted and then k counted handshakes (IKE_SA_INIT,
// IKE_AUTH with a CHILD_SA, and the initiator's Delete) between an
// initiator and a responder engine in this process, with the suite of the
// load, the moon and sun credentials in credDir and memory kernels.
func runPair(credDir, ikeProp, espProp string, warmup, k int) error {
	moon, err := loadHost(credDir, initiatorName)
	if err != nil {
		return err
	}
	sun, err := loadHost(credDir, responderName)
	if err != nil {
		return err
	}
	net := &pairNet{engines: map[netip.Addr]*ike.Engine{}, responder: pairResponder}
	newEngine := func(addr netip.Addr, h *hostCreds) (*ike.Engine, error) {
		mem, err := kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
		if err != nil {
			return nil, err
		}
		e, err := ike.New(ike.Config{
			Transport: net, Kernel: mem, Clock: stillClock{}, Trust: h.trust, Creds: h.creds,
			LocalAddr: func(netip.Addr) (netip.Addr, error) { return addr, nil },
		})
		if err != nil {
			return nil, fmt.Errorf("in-process engine %s: %w", addr, err)
		}
		net.engines[addr] = e
		return e, nil
	}
	init, err := newEngine(pairInitiator, moon)
	if err != nil {
		return err
	}
	defer init.Close()
	resp, err := newEngine(pairResponder, sun)
	if err != nil {
		return err
	}
	defer resp.Close()
	ip, err := initiatorPeer(pairResponder, sun.id, ikeProp, espProp)
	if err != nil {
		return err
	}
	rp := ip
	rp.Name, rp.Remote = "load", netip.Addr{}
	if rp.RemoteID, err = pki.ParsePeerMatcher(interop.HostPattern); err != nil {
		return err
	}
	if _, err := init.SetPeers([]ike.PeerConfig{ip}); err != nil {
		return err
	}
	if _, err := resp.SetPeers([]ike.PeerConfig{rp}); err != nil {
		return err
	}
	for i := 0; i < warmup+k; i++ {
		net.counting = i >= warmup
		if err := init.Initiate(loadPeer); err != nil {
			return err
		}
		if err := net.run(); err != nil {
			return err
		}
		st := init.Status(context.Background())
		if len(st) != 1 || st[0].State != "established" || len(st[0].Children) != 1 {
			return fmt.Errorf("in-process handshake %d did not establish: %+v", i, st)
		}
		if err := init.Terminate(loadPeer); err != nil {
			return err
		}
		if err := net.run(); err != nil {
			return err
		}
		if st := resp.Status(context.Background()); len(st) != 0 {
			return fmt.Errorf("in-process handshake %d: responder kept %d IKE SAs after the Delete", i, len(st))
		}
	}
	return nil
}
