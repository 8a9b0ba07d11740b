package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/crlfetch"
	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/statefile"
)

// daemon owns the engine, which exists from the first configuration with
// peers on; it implements control.Service.
type daemon struct {
	logf      func(string, ...any)
	verbosef  func(string, ...any)
	kern      kernel.Backend
	transport ike.Transport // the UDP one also sends NAT-keepalives (ike.KeepaliveSender)
	port      uint16
	nattPort  uint16
	localAddr func(netip.Addr) (netip.Addr, error)
	// startReceiving starts reading the IKE sockets; apply calls it once
	// the engine exists. nil: nothing to start (unit tests).
	startReceiving func()
	keysDir        string // -save-keys DIR; empty: save-keys writes to defaultKeysDir
	// state keeps the engine's state across restarts (restart.go); nil:
	// no state, SAs are deleted on exit.
	state    *statefile.File
	stateErr string // last save failure, logged once
	cleared  bool   // noPeersAtStart ran

	mu       sync.Mutex
	engine   *ike.Engine
	credsKey string

	// fetchMu guards fetcher apart from mu: the engine calls watchPeer
	// with its own lock held, while apply holds mu and calls the engine.
	fetchMu sync.Mutex
	fetcher *crlfetch.Fetcher // nil unless ipsec crl-fetch is on
	// newFetcher makes the fetcher; nil: one with the real clock and HTTP.
	newFetcher func(crlfetch.Config) (*crlfetch.Fetcher, error)
}

var errNoPeers = errors.New("no ipsec peers are configured")

// apply makes the engine follow c, changing only what differs.
func (d *daemon) apply(c *model.Config, source string) error {
	s, err := settingsFrom(c)
	if err != nil {
		return fmt.Errorf("%s: ipsec configuration not applied: %w", source, err)
	}
	// The fetcher gets the new trust store first, so that CRLs it
	// fetched earlier are in it before SetCredentials rechecks SAs.
	if err := d.followCRLFetch(c.IPsec.CRLFetch && len(s.peers) > 0, s); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.engine == nil {
		if len(s.peers) == 0 {
			d.noPeersAtStart()
			return nil
		}
		cfg := ike.Config{
			Transport: d.transport, Kernel: d.kern, Trust: s.trust, Creds: s.creds,
			Port: d.port, NATTPort: d.nattPort, LocalAddr: d.localAddr,
			Log:              ike.Logger{Verbosef: d.verbosef, Errorf: d.logf},
			PeerCertificates: d.watchPeer,
		}
		if d.state != nil {
			cfg.SaveState = d.saveState
		}
		e, err := ike.New(cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		d.restore(e)
		d.engine, d.credsKey = e, s.credsKey
		if d.startReceiving != nil {
			// Its packets wait for d.mu, so for this apply's peers.
			d.startReceiving()
		}
	} else if len(s.peers) > 0 && s.credsKey != d.credsKey {
		if err := d.engine.SetCredentials(s.trust, s.creds); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		d.credsKey = s.credsKey
		d.logf("%s: new trust store and credentials", source)
	}
	changed, err := d.engine.SetPeers(s.peers)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if len(changed) > 0 {
		d.logf("%s: peers (re)configured: %s", source, strings.Join(changed, ", "))
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

// InitiateWait implements control.InitiateWaiter.
func (d *daemon) InitiateWait(ctx context.Context, peer string) (ike.Outcome, error) {
	if e := d.current(); e != nil {
		return e.InitiateWait(ctx, peer)
	}
	return ike.Outcome{}, fmt.Errorf("initiate %s: %w", peer, errNoPeers)
}

// Terminate implements control.Service.
func (d *daemon) Terminate(peer string) error {
	if e := d.current(); e != nil {
		return e.Terminate(peer)
	}
	return fmt.Errorf("terminate %s: %w", peer, errNoPeers)
}

// close deletes all SAs and uninstalls everything ikesvc put in the
// kernel; with a state file it leaves them for the next run instead.
func (d *daemon) close() error {
	if err := d.followCRLFetch(false, nil); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.engine == nil {
		return nil
	}
	if d.state != nil {
		d.engine.Detach()
		return nil
	}
	return d.engine.Close()
}

// followCRLFetch starts or stops the CRL fetcher and hands it the trust
// store of s. It must not be called with d.mu held: stopping waits for
// fetches, whose revocation callback takes d.mu.
func (d *daemon) followCRLFetch(on bool, s *settings) error {
	d.fetchMu.Lock()
	f := d.fetcher
	if !on {
		d.fetcher = nil
		d.fetchMu.Unlock()
		if f != nil {
			f.Close()
			d.logf("crl-fetch off: fetched CRLs dropped from the next trust store")
		}
		return nil
	}
	defer d.fetchMu.Unlock()
	if f == nil {
		newFetcher := d.newFetcher
		if newFetcher == nil {
			newFetcher = crlfetch.New
		}
		var err error
		f, err = newFetcher(crlfetch.Config{
			Clock: ike.RealClock{}, Logf: d.logf,
			Established: func() []pki.Chain {
				if e := d.current(); e != nil {
					return e.PeerChains()
				}
				return nil
			},
			Revoked: func([]pki.Chain) {
				if e := d.current(); e != nil {
					if names := e.DeleteRevoked(); len(names) > 0 {
						d.logf("fetched CRL revokes peer(s) %s: IKE SAs deleted", strings.Join(names, ", "))
					}
				}
			},
		})
		if err != nil {
			return fmt.Errorf("crl-fetch: %w", err)
		}
		d.fetcher = f
	}
	f.SetTrust(s.trust)
	// Our own certificate and the configured CAs name the distribution
	// points of the CAs our peers share, so their CRLs are fetched before
	// the first peer arrives (the strict policy needs them).
	f.Watch(s.creds.Cert, s.creds.Intermediates)
	f.Watch(nil, s.trust.Intermediates())
	return nil
}

// watchPeer is the engine's PeerCertificates hook: it runs under the
// engine's lock and only hands the certificates to the fetcher, which
// fetches in the background. Under the strict policy the attempt that
// brought an unknown CA's certificate fails (no CRL yet) with the engine's
// "no current CRL" log line; the peer's retry succeeds once the CRL is in.
func (d *daemon) watchPeer(leaf *x509.Certificate, intermediates []*x509.Certificate) {
	d.fetchMu.Lock()
	f := d.fetcher
	d.fetchMu.Unlock()
	if f != nil {
		f.Watch(leaf, intermediates)
	}
}

// Rekey implements control.RekeyService.
func (d *daemon) Rekey(peer string, kind ike.RekeyKind) error {
	if e := d.current(); e != nil {
		return e.Rekey(peer, kind)
	}
	return fmt.Errorf("rekey %s: %w", peer, errNoPeers)
}
