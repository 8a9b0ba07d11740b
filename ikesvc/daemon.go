package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
)

// daemon owns the engine, which exists from the first configuration with
// peers on; it implements control.Service.
type daemon struct {
	logf      func(string, ...any)
	verbosef  func(string, ...any)
	kern      kernel.Backend
	transport ike.Transport
	port      uint16
	nattPort  uint16
	localAddr func(netip.Addr) (netip.Addr, error)

	mu       sync.Mutex
	engine   *ike.Engine
	credsKey string
}

var errNoPeers = errors.New("no ipsec peers are configured")

// apply makes the engine follow c, changing only what differs.
func (d *daemon) apply(c *model.Config, source string) error {
	s, err := settingsFrom(c)
	if err != nil {
		return fmt.Errorf("%s: ipsec configuration not applied: %w", source, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.engine == nil {
		if len(s.peers) == 0 {
			return nil
		}
		e, err := ike.New(ike.Config{
			Transport: d.transport, Kernel: d.kern, Trust: s.trust, Creds: s.creds,
			Port: d.port, NATTPort: d.nattPort, LocalAddr: d.localAddr,
			Log: ike.Logger{Verbosef: d.verbosef, Errorf: d.logf},
		})
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		d.engine, d.credsKey = e, s.credsKey
	} else if len(s.peers) > 0 && s.credsKey != d.credsKey {
		if err := d.engine.SetCredentials(s.trust, s.creds); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		d.credsKey = s.credsKey
		d.logf("ikesvc: %s: new trust store and credentials", source)
	}
	changed, err := d.engine.SetPeers(s.peers)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if len(changed) > 0 {
		d.logf("ikesvc: %s: peers (re)configured: %s", source, strings.Join(changed, ", "))
	}
	return nil
}

func (d *daemon) current() *ike.Engine {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.engine
}

func (d *daemon) handlePacket(packet []byte, from, to netip.AddrPort) {
	if e := d.current(); e != nil {
		e.HandlePacket(packet, from, to)
	}
}

func (d *daemon) handleEvent(ev kernel.Event) {
	if e := d.current(); e != nil {
		e.HandleKernelEvent(ev)
	}
}

// Status implements control.Service.
func (d *daemon) Status(ctx context.Context) []ike.IKESAStatus {
	if e := d.current(); e != nil {
		return e.Status(ctx)
	}
	return nil
}

// Initiate implements control.Service.
func (d *daemon) Initiate(peer string) error {
	if e := d.current(); e != nil {
		return e.Initiate(peer)
	}
	return fmt.Errorf("initiate %s: %w", peer, errNoPeers)
}

// Terminate implements control.Service.
func (d *daemon) Terminate(peer string) error {
	if e := d.current(); e != nil {
		return e.Terminate(peer)
	}
	return fmt.Errorf("terminate %s: %w", peer, errNoPeers)
}

// close deletes all SAs and uninstalls everything ikesvc put in the kernel.
func (d *daemon) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.engine == nil {
		return nil
	}
	return d.engine.Close()
}
