package ike

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// ErrStateMismatch is wrapped when a saved state cannot be continued as a
// whole: another version, or SAs authenticated with other credentials.
var ErrStateMismatch = errors.New("saved state does not match")

// Restore prepares a new Engine to continue the SAs of a previous run:
// data is what that run last handed to Config.SaveState, nil after a cold
// start. It must be called once, before the first SetPeers, which adopts
// the SAs of every peer whose configuration is unchanged. The owned kernel
// entries found now that no adopted SA claims are kept until replaced
// (stale.go), so a peer whose state is discarded is re-keyed make-before-
// break. An error says why data as a whole was discarded (the caller logs
// it in one line); the Engine then starts as after a cold start, with the
// kernel entries kept the same way.
func (e *Engine) Restore(data []byte) error {
	e.lock()
	defer e.unlock()
	if e.closed {
		return errors.New("ike: engine closed")
	}
	have, lerr := e.cfg.Kernel.List(context.Background())
	if lerr != nil {
		lerr = fmt.Errorf("listing the kernel's SAs and policies: %w", lerr)
	}
	var st savedState
	var err error
	if data != nil {
		err = json.Unmarshal(data, &st)
		switch {
		case err != nil:
			err = fmt.Errorf("decoding: %w", err)
		case st.Version != StateVersion:
			err = fmt.Errorf("%w: version %d, want %d", ErrStateMismatch, st.Version, StateVersion)
		case st.Creds != credsFingerprint(e.cfg.Creds):
			err = fmt.Errorf("%w: saved with another local certificate or identity", ErrStateMismatch)
			// The reqids still name the peers' kernel entries.
			e.reqids = nonNil(st.Reqids)
			st = savedState{}
		}
	}
	if err == nil && data != nil {
		e.reqids = nonNil(st.Reqids)
		e.persist.restored = &st
	} else if err != nil {
		st = savedState{}
	}
	e.persist.leftovers = have
	return errors.Join(err, lerr)
}

func nonNil(m map[string]uint32) map[string]uint32 {
	if m == nil {
		return map[string]uint32{}
	}
	return m
}

// adoptRestored continues the saved SAs of the peers in peers whose
// configuration is the one they were negotiated under, and returns those
// peers (SetPeers starts them if they have no SA left). The state of other
// peers is discarded, in one log line. Call with e.mu held, once.
func (e *Engine) adoptRestored(peers []PeerConfig) []*peer {
	st, have := e.persist.restored, e.persist.leftovers
	e.persist.restored, e.persist.leftovers = nil, kernel.Set{}
	configured := map[string]*PeerConfig{}
	for i := range peers {
		configured[peers[i].Name] = &peers[i]
	}
	var why []string
	var adopted []*peer
	discarded := map[string]bool{}
	// The kernel entries of removed peers go at once, and so do those of
	// adopted peers that the state does not name: installed just before a
	// crash, for an exchange whose answer never left (persist.go), so the
	// peer does not have them, and as the newest SAs they would carry our
	// traffic.
	drop := map[uint32]bool{}
	if st != nil {
		names := make([]string, 0, len(st.Peers))
		for name := range st.Peers {
			names = append(names, name)
		}
		sort.Strings(names)
		accepted := map[string]*peer{}
		for _, name := range names {
			pc := configured[name]
			switch {
			case pc == nil:
				why = append(why, name+" (removed)")
				drop[e.reqids[name]] = true
				continue
			case pc.fingerprint() != st.Peers[name]:
				why = append(why, name+" (configuration changed)")
				discarded[name] = true
				continue
			}
			reqid, err := e.reqidFor(name)
			if err != nil {
				why = append(why, name+" ("+err.Error()+")")
				discarded[name] = true
				continue
			}
			p := &peer{cfg: *pc, reqid: reqid}
			p.restart = e.newTimer(func() { e.startPeer(p) })
			accepted[name] = p
		}
		restored := map[string][]*ikeSA{}
		failed := map[string]bool{}
		for i := range st.SAs {
			s := &st.SAs[i]
			p := accepted[s.Peer]
			if p == nil || failed[s.Peer] {
				continue
			}
			sa, err := e.restoreSA(s, p)
			if err != nil {
				why = append(why, fmt.Sprintf("%s (IKE SA %x: %v)", s.Peer, ourSPIOf(s), err))
				failed[s.Peer], discarded[s.Peer] = true, true
				continue
			}
			restored[s.Peer] = append(restored[s.Peer], sa)
		}
		for _, name := range names {
			p := accepted[name]
			if p == nil || failed[name] {
				continue
			}
			e.peers[name] = p
			adopted = append(adopted, p)
			drop[p.reqid] = true
			for _, sa := range restored[name] {
				e.sas[sa.ourSPI()] = sa
			}
		}
		for i := range st.SAs {
			if s := &st.SAs[i]; accepted[s.Peer] != nil && !failed[s.Peer] {
				e.resumeSA(s)
			}
		}
		// Inbound SAs of replaced CHILD_SAs keep their grace.
		owned := map[uint32]bool{}
		for _, p := range adopted {
			owned[p.reqid] = true
		}
		for _, l := range st.Lingering {
			if until := fromUnixNano(l.Until); owned[l.SA.Reqid] && e.now().Before(until) {
				e.lingering = append(e.lingering, lingerSA{sa: l.SA, until: until})
			}
		}
		e.armLinger()
		// Peers whose state is gone get INITIAL_CONTACT again; the others,
		// with or without an SA right now, have had it.
		for _, name := range st.Contacted {
			if configured[name] != nil && !discarded[name] {
				e.persist.contacted[name] = true
			}
		}
	}
	e.adoptLeftovers(have, drop)
	if len(why) > 0 {
		e.log.Errorf("ike: saved state of peer(s) %s discarded; re-keying them make-before-break", strings.Join(why, ", "))
	}
	n := 0
	for _, sa := range e.sas {
		if sa.state == StateEstablished {
			n++
		}
	}
	if st != nil {
		e.log.Verbosef("ike: continuing %d IKE SAs of %d peers from the saved state", n, len(adopted))
	}
	return adopted
}

// until is how long from now to the saved deadline at (0: at once).
func (e *Engine) until(at int64) time.Duration {
	return max(fromUnixNano(at).Sub(e.now()), 0)
}

// restoreSA rebuilds one IKE SA with its CHILD_SAs; resumeSA, once every
// SA is back, links them and arms their timers and requests.
func (e *Engine) restoreSA(s *savedIKESA, p *peer) (*ikeSA, error) {
	if s.State != StateEstablished && s.State != StateDeleting {
		return nil, fmt.Errorf("state %v", s.State)
	}
	sa := &ikeSA{
		e: e, state: s.State, initiator: s.Initiator, created: fromUnixNano(s.Created), peer: p,
		noRestart: s.NoRestart, spiI: s.SPIi, spiR: s.SPIr, local: s.Local, remote: s.Remote,
		natLocal: s.NATLocal, natRemote: s.NATRemote, fragOK: s.FragOK,
		suite: s.Suite, keys: s.Keys, ni: s.Ni, nr: s.Nr, localID: s.LocalID, remoteID: s.RemoteID,
		established: fromUnixNano(s.Est), lastReceived: fromUnixNano(s.LastRecv), lastSent: fromUnixNano(s.LastSent),
		sendID: s.SendID, recvID: s.RecvID, lastResponse: s.LastResp, superseded: s.Superseded,
		reauthAt: fromUnixNano(s.ReauthAt),
	}
	if sa.ourSPI() == 0 || !sa.local.IsValid() || !sa.remote.IsValid() {
		return nil, errors.New("no SPI or addresses")
	}
	for _, h := range s.PeerHashes {
		sa.peerHashes = append(sa.peerHashes, pki.HashAlgorithm(h))
	}
	for _, der := range s.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("peer certificate: %w", err)
		}
		sa.remoteChain = append(sa.remoteChain, c)
	}
	var err error
	if sa.out, sa.in, err = s.Keys.Ciphers(s.Suite, s.Initiator, e.rand); err != nil {
		return nil, fmt.Errorf("IKE SK ciphers: %w", err)
	}
	sa.retransmit = e.newTimer(sa.expiredRetransmit)
	sa.lifetime = e.newTimer(sa.expiredHalfOpen)
	sa.dpd = e.newTimer(sa.expiredDPD)
	sa.ikeRekey = e.newTimer(sa.expiredIKERekey)
	sa.keepalive = e.newTimer(sa.expiredSendKeepalive)
	sa.reauth = e.newTimer(sa.expiredReauth)
	for i := range s.Children {
		c, err := e.restoreChild(&s.Children[i], p)
		if err != nil {
			return nil, fmt.Errorf("CHILD_SA %08x: %w", s.Children[i].InSPI, err)
		}
		sa.children = append(sa.children, c)
	}
	for i := range s.Children {
		if r := s.Children[i].PeerRekey; r != nil {
			if theirs := sa.childByInSPI(r.InSPI); theirs != nil {
				sa.children[i].peerRekey = &rekeyOutcome{child: theirs, ni: r.Ni, nr: r.Nr}
			}
		}
	}
	if req := s.Pending; req != nil {
		sa.pending = &request{id: req.ID, exchange: req.Exchange, packets: req.Packets, tries: req.Tries}
		if len(req.Packets) == 0 {
			return nil, errors.New("request in flight without packets")
		}
	}
	return sa, nil
}

func (e *Engine) restoreChild(s *savedChild, p *peer) (*childSA, error) {
	if s.InSPI == 0 || s.InSA.SPI != s.InSPI || s.OutSA.SPI != s.OutSPI || s.Reqid != p.reqid {
		return nil, errors.New("SPIs or reqid inconsistent")
	}
	c := &childSA{
		reqid: s.Reqid, mode: s.Mode, suite: s.Suite, inSPI: s.InSPI, outSPI: s.OutSPI,
		tsLocal: s.TSLocal, tsRemote: s.TSRemote, inSA: s.InSA, outSA: s.OutSA,
		created: fromUnixNano(s.Created), rekeyAfter: s.RekeyAfter,
		superseded: s.Superseded, deleting: s.Deleting, outPending: s.OutPending,
	}
	return c, nil
}

// resumeSA links the restored SA s to the others, rebuilds the handler of
// its request in flight and what was queued, and arms its timers on their
// saved deadlines. Call after every SA of the state is in e.sas.
func (e *Engine) resumeSA(s *savedIKESA) {
	sa := e.sas[ourSPIOf(s)]
	if sa == nil {
		return
	}
	if s.HandedTo != 0 {
		sa.handedTo = e.sas[s.HandedTo]
	}
	if s.PeerSucc != 0 {
		sa.peerSuccessor = e.sas[s.PeerSucc]
	}
	for i, c := range sa.children {
		c.rekey = e.newTimer(func() { sa.rekeyChild(c) })
		if at := s.Children[i].RekeyAt; at != 0 {
			c.rekey.Mod(e.until(at))
		}
		e.timersOutbound(c) // a pending outbound SA waits at most its limit again
	}
	pendingDeletes := map[uint32]bool{}
	deletingIKE := false
	if req := sa.pending; req != nil {
		switch s.Pending.Kind {
		case "dpd":
			req.handle = func(*wire.Message) {}
		case "delete-ike":
			deletingIKE = true
			req.handle = sa.deletedIKE
		case "delete-child":
			var cs []*childSA
			for _, spi := range s.Pending.SPIs {
				if c := sa.childByInSPI(spi); c != nil {
					cs = append(cs, c)
					pendingDeletes[spi] = true
				}
			}
			req.handle = func(*wire.Message) {
				for _, c := range cs {
					sa.removeChild(c)
				}
				sa.e.syncKernel()
			}
		case "rekey-child":
			req.handle = e.resumeChildRekey(sa, s.Pending)
		case "rekey-ike":
			req.handle = e.resumeIKERekey(sa, s.Successor)
		}
		if req.handle == nil {
			// Another exchange (or one that cannot be rebuilt): its answer
			// only moves the message IDs on.
			req.handle = func(*wire.Message) {}
		}
		if s.Pending.At != 0 {
			sa.retransmit.Mod(e.until(s.Pending.At))
		} else {
			sa.retransmit.Mod(RetransmitTimeout << req.tries)
		}
	}
	if sa.state == StateDeleting && !deletingIKE {
		sa.queueRequest(wire.ExchangeInformational, func() []wire.Payload {
			return []wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}}
		}, sa.deletedIKE)
	}
	for _, c := range sa.children {
		switch {
		case c.deleting && !pendingDeletes[c.inSPI]:
			c.deleting = false
			sa.deleteChild(c, "queued before the restart")
		case !c.deleting && !c.rekeying && !c.rekey.IsPending() && sa.state == StateEstablished:
			// Its rekey was queued, not sent, when the state was saved.
			c.rekey.Mod(rekeyPostpone)
		}
	}
	if sa.state != StateEstablished {
		return
	}
	if s.DPDAt != 0 {
		sa.dpd.Mod(e.until(s.DPDAt))
	} else if d := sa.dpdInterval(); d > 0 {
		sa.dpd.Mod(d)
	}
	if s.RekeyAt != 0 {
		sa.ikeRekey.Mod(e.until(s.RekeyAt))
	} else if !sa.rekeyingIKE && sa.handedTo == nil {
		sa.ikeRekey.Mod(rekeyPostpone)
	}
	if !sa.superseded && sa.handedTo == nil {
		sa.timersReauth() // on the saved deadline; a reauthentication in flight starts again
	}
	sa.timersKeepalive()
}

func ourSPIOf(s *savedIKESA) uint64 {
	if s.Initiator {
		return s.SPIi
	}
	return s.SPIr
}

// deletedIKE is the answer to our Delete of the IKE SA.
func (sa *ikeSA) deletedIKE(*wire.Message) {
	sa.e.log.Verbosef("ike: peer %s: IKE SA %x deleted", sa.peerName(), sa.ourSPI())
	sa.close(false)
}

// resumeChildRekey rebuilds our CHILD_SA rekey in flight.
func (e *Engine) resumeChildRekey(sa *ikeSA, req *savedRequest) func(*wire.Message) {
	if len(req.SPIs) != 1 || req.Next == nil {
		return nil
	}
	old := sa.current().childByInSPI(req.SPIs[0])
	if old == nil {
		return nil
	}
	n := req.Next
	next := &childSA{
		reqid: old.reqid, mode: old.mode, inSPI: n.InSPI, proposals: sa.peer.cfg.ESP,
		tsLocal: n.TSLocal, tsRemote: n.TSRemote, ni: n.Ni,
	}
	if n.KEPriv != nil {
		ke, err := suite.RestoreKeyExchange(n.KEGroup, n.KEPriv)
		if err != nil {
			return nil
		}
		next.ke = ke
	}
	old.rekeying, old.rekeySent, old.rekeyNext = true, true, next
	old.rekey.Del()
	return func(m *wire.Message) { sa.consumeChildRekeyResponse(old, next, m) }
}

// resumeIKERekey rebuilds our IKE SA rekey in flight.
func (e *Engine) resumeIKERekey(sa *ikeSA, s *savedSuccessor) func(*wire.Message) {
	if s == nil || s.SPI == 0 || e.sas[s.SPI] != nil {
		return nil
	}
	ke, err := suite.RestoreKeyExchange(s.Group, s.KEPriv)
	if err != nil {
		return nil
	}
	next := sa.successor(true, s.SPI)
	next.ni, next.ke = s.Ni, ke
	e.sas[s.SPI] = next
	sa.successorSA, sa.rekeyingIKE = next, true
	return func(m *wire.Message) { sa.consumeIKERekeyResponse(next, s.Ni, ke, m) }
}

// Detach stops the engine and leaves everything in place: the kernel keeps
// the SAs and policies, the peers are told nothing, and the state last
// handed to Config.SaveState lets the next process continue (Restore).
// ikesvc detaches on SIGTERM when it saves its state; Close is the
// teardown.
func (e *Engine) Detach() {
	e.lock()
	defer e.unlock()
	if e.closed {
		return
	}
	e.saveState()
	for _, sa := range e.sas {
		sa.timersStop()
	}
	for _, p := range e.peers {
		p.restart.Del()
	}
	if e.persist.staleTimer != nil {
		e.persist.staleTimer.Del()
	}
	e.closed = true
}
