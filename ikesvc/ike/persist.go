package ike

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// Restart without loss. The kernel keeps the ESP SAs and policies when
// ikesvc stops or crashes; what the process loses is the IKE side: keys,
// SPIs, message IDs, the request in flight, timers. The engine hands all
// of it to Config.SaveState after every entry point that changed it
// (HandlePacket, timers, kernel events, SetPeers, ...), and before any
// datagram that entry point produced leaves: unlock saves, then sends. A
// process killed at any moment thus restarts from a state that is at
// least as new as anything the peer has seen from us. Restore (restore.go)
// loads it into a fresh Engine, which continues the same IKE SAs: message
// IDs go on, an outstanding request is retransmitted on its old schedule,
// rekeys and DPD run on their old deadlines, and the kernel entries are
// adopted as they are (the first Apply finds them already installed).
//
// The encoding is JSON of the saved* types below (no gob: the busybox
// must not link reflect.Value.Call), versioned by StateVersion. Times are
// absolute (Unix nanoseconds), so a deadline keeps its place across the
// gap. Key material is in it: the daemon keeps it in a 0600 file in RAM.

// StateVersion is the version of the saved state's encoding; a state of
// another version is discarded.
const StateVersion = 1

// persistence is the engine's restart bookkeeping.
type persistence struct {
	// inEntry is set between lock and unlock: datagrams wait in outbox.
	inEntry bool
	outbox  []outgoing
	last    []byte // the state last handed to SaveState
	// restored is the state Restore loaded, adopted by the first SetPeers.
	restored  *savedState
	leftovers kernel.Set // the owned kernel entries Restore found
	// contacted are the peers (by name) an IKE SA was established with
	// since the last cold start: they get no INITIAL_CONTACT (contact.go).
	contacted map[string]bool
	// stale are kernel entries of a previous run that no live SA owns,
	// kept until a new CHILD_SA of the same reqid replaces them or a
	// deadline passes (stale.go).
	stale      map[uint32]*staleGroup
	staleTimer *timer
}

type outgoing struct {
	packet   []byte
	from, to netip.AddrPort
}

func newPersistence() persistence {
	return persistence{contacted: map[string]bool{}, stale: map[uint32]*staleGroup{}}
}

// lock enters an entry point.
func (e *Engine) lock() {
	e.mu.Lock()
	e.persist.inEntry = true
}

// unlock leaves an entry point: save the state, then send what it queued.
func (e *Engine) unlock() {
	if !e.closed {
		e.saveState()
	}
	out := e.persist.outbox
	e.persist.outbox, e.persist.inEntry = nil, false
	for _, d := range out {
		e.transmit(d.packet, d.from, d.to)
	}
	e.mu.Unlock()
}

// saveState hands the current state to Config.SaveState when it changed.
func (e *Engine) saveState() {
	if e.cfg.SaveState == nil || e.persist.restored != nil {
		return // (a restored state waits for SetPeers: keep the old one)
	}
	data, err := e.export()
	if err != nil {
		e.log.Errorf("ike: saving the state for a restart: %v", err)
		return
	}
	if bytes.Equal(data, e.persist.last) {
		return
	}
	e.persist.last = data
	e.cfg.SaveState(data)
}

// Export returns the engine's state as Restore reads it.
func (e *Engine) Export() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.export()
}

type savedState struct {
	Version int   `json:"version"`
	Saved   int64 `json:"saved"`
	// Creds fingerprints our certificate and identity: SAs authenticated
	// with other credentials are not continued.
	Creds     string            `json:"creds"`
	Reqids    map[string]uint32 `json:"reqids"`
	Contacted []string          `json:"contacted,omitempty"`
	// Peers fingerprints the configuration of every peer an SA belongs to.
	Peers map[string]string `json:"peers"`
	SAs   []savedIKESA      `json:"sas"`
	// Lingering are inbound SAs of replaced CHILD_SAs in their grace
	// (childinstall.go).
	Lingering []savedLinger `json:"lingering,omitempty"`
}

type savedLinger struct {
	SA    kernel.SA `json:"sa"`
	Until int64     `json:"until"`
}

type savedIKESA struct {
	State      State           `json:"state"`
	Initiator  bool            `json:"initiator"`
	Created    int64           `json:"created"`
	Peer       string          `json:"peer"`
	NoRestart  bool            `json:"no_restart,omitempty"`
	SPIi       uint64          `json:"spi_i"`
	SPIr       uint64          `json:"spi_r"`
	Local      netip.AddrPort  `json:"local"`
	Remote     netip.AddrPort  `json:"remote"`
	NATLocal   bool            `json:"nat_local,omitempty"`
	NATRemote  bool            `json:"nat_remote,omitempty"`
	FragOK     bool            `json:"frag_ok,omitempty"`
	PeerHashes []uint16        `json:"peer_hashes,omitempty"`
	Suite      suite.Suite     `json:"suite"`
	Keys       suite.IKEKeys   `json:"keys"`
	Ni         []byte          `json:"ni"`
	Nr         []byte          `json:"nr"`
	LocalID    pki.Identity    `json:"local_id"`
	RemoteID   pki.Identity    `json:"remote_id"`
	Chain      [][]byte        `json:"chain,omitempty"` // the peer's verified chain, DER, leaf first
	Est        int64           `json:"established"`
	LastRecv   int64           `json:"last_received"`
	LastSent   int64           `json:"last_sent"`
	SendID     uint32          `json:"send_id"`
	RecvID     uint32          `json:"recv_id"`
	LastResp   [][]byte        `json:"last_response,omitempty"`
	Pending    *savedRequest   `json:"pending,omitempty"`
	Children   []savedChild    `json:"children,omitempty"`
	DPDAt      int64           `json:"dpd_at,omitempty"`
	RekeyAt    int64           `json:"ike_rekey_at,omitempty"`
	Successor  *savedSuccessor `json:"successor,omitempty"` // our IKE SA rekey in flight
	PeerSucc   uint64          `json:"peer_successor,omitempty"`
	Superseded bool            `json:"superseded,omitempty"`
	HandedTo   uint64          `json:"handed_to,omitempty"`
	ReauthAt   int64           `json:"reauth_at,omitempty"` // reauth.go: the deadline, kept across rekeys
}

// savedRequest is the request in flight. Kind says how to rebuild the
// handler of its response: "dpd", "delete-ike", "delete-child",
// "rekey-child", "rekey-ike", or "other" (answer only advances the IDs).
type savedRequest struct {
	Kind     string            `json:"kind"`
	ID       uint32            `json:"id"`
	Exchange wire.ExchangeType `json:"exchange"`
	Packets  [][]byte          `json:"packets"`
	Tries    int               `json:"tries"`
	At       int64             `json:"retransmit_at,omitempty"`
	SPIs     []uint32          `json:"spis,omitempty"` // delete-child: our inbound SPIs; rekey-child: the old one
	Next     *savedChild       `json:"next,omitempty"` // rekey-child: the proposed CHILD_SA
}

type savedSuccessor struct {
	SPI    uint64        `json:"spi"`
	Ni     []byte        `json:"ni"`
	Group  suite.DHGroup `json:"group"`
	KEPriv []byte        `json:"ke"`
}

type savedChild struct {
	Reqid      uint32                 `json:"reqid"`
	Mode       kernel.Mode            `json:"mode"`
	Suite      suite.Suite            `json:"suite"`
	InSPI      uint32                 `json:"spi_in"`
	OutSPI     uint32                 `json:"spi_out"`
	TSLocal    []wire.TrafficSelector `json:"ts_local"`
	TSRemote   []wire.TrafficSelector `json:"ts_remote"`
	InSA       kernel.SA              `json:"in"`
	OutSA      kernel.SA              `json:"out"`
	Created    int64                  `json:"created"`
	RekeyAfter time.Duration          `json:"rekey_after"`
	RekeyAt    int64                  `json:"rekey_at,omitempty"`
	Superseded bool                   `json:"superseded,omitempty"`
	Deleting   bool                   `json:"deleting,omitempty"`
	// OutPending: the outbound SA is not installed yet (childinstall.go).
	OutPending bool `json:"out_pending,omitempty"`
	// PeerRekey is the peer's colliding rekey (collision.go): the CHILD_SA
	// it created, by our inbound SPI, and its nonces.
	PeerRekey *savedOutcome `json:"peer_rekey,omitempty"`
	// While proposed by us (savedRequest.Next only).
	Ni      []byte        `json:"ni,omitempty"`
	KEGroup suite.DHGroup `json:"ke_group,omitempty"`
	KEPriv  []byte        `json:"ke,omitempty"`
}

type savedOutcome struct {
	InSPI  uint32 `json:"spi_in"`
	Ni, Nr []byte
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func timerAt(t *timer) int64 {
	if t == nil || !t.IsPending() {
		return 0
	}
	return unixNano(t.at)
}

// credsFingerprint identifies our certificate and default identity.
func credsFingerprint(c Credentials) string {
	h := sha256.New()
	if c.Cert != nil {
		h.Write(c.Cert.Raw)
	}
	fmt.Fprintf(h, "|%d|%x", c.ID.Type, c.ID.Data)
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprint identifies what Equal compares: a saved SA is continued only
// under a configuration that would have negotiated it. Keep the two in
// step (TestPeerFingerprintCoversConfig fails when PeerConfig grows).
func (p *PeerConfig) fingerprint() string {
	var b strings.Builder
	props := func(ps []suite.Proposal) {
		for _, x := range ps {
			b.WriteString(x.String() + ",")
		}
		b.WriteString("|")
	}
	fmt.Fprintf(&b, "%s|%v|%s|%d:%x|%v|%v|%v|", p.Name, p.Remote, p.RemoteID.String(), p.LocalID.Type, p.LocalID.Data, p.Mode, p.LocalTS, p.RemoteTS)
	props(p.IKE)
	props(p.ESP)
	fmt.Fprintf(&b, "%v|%v|%v|%v|%v|%v", p.DPDInterval, p.RekeyTime, p.IKERekeyTime, p.ReauthTime, p.DPDAction, p.StartAction)
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// export encodes the state; call with e.mu held. Only SAs that are
// established or being deleted are saved: a handshake cut short by a
// restart starts again (the peer's half-open state times out).
func (e *Engine) export() ([]byte, error) {
	st := savedState{
		Version: StateVersion, Saved: unixNano(e.now()), Creds: credsFingerprint(e.cfg.Creds),
		Reqids: e.reqids, Peers: map[string]string{},
	}
	for name := range e.persist.contacted {
		st.Contacted = append(st.Contacted, name)
	}
	sort.Strings(st.Contacted)
	sas := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		if (sa.state == StateEstablished || sa.state == StateDeleting) && sa.peer != nil && !sa.peer.removed {
			sas = append(sas, sa)
		}
	}
	sort.Slice(sas, func(i, j int) bool {
		if !sas[i].created.Equal(sas[j].created) {
			return sas[i].created.Before(sas[j].created)
		}
		return sas[i].ourSPI() < sas[j].ourSPI()
	})
	for _, sa := range sas {
		s, err := sa.export()
		if err != nil {
			return nil, fmt.Errorf("IKE SA %x of peer %s: %w", sa.ourSPI(), sa.peerName(), err)
		}
		st.SAs = append(st.SAs, s)
		st.Peers[sa.peer.cfg.Name] = sa.peer.cfg.fingerprint()
	}
	for _, l := range e.lingering {
		st.Lingering = append(st.Lingering, savedLinger{SA: l.sa, Until: unixNano(l.until)})
	}
	return json.Marshal(&st)
}

func (sa *ikeSA) export() (savedIKESA, error) {
	s := savedIKESA{
		State: sa.state, Initiator: sa.initiator, Created: unixNano(sa.created), Peer: sa.peer.cfg.Name,
		NoRestart: sa.noRestart, SPIi: sa.spiI, SPIr: sa.spiR, Local: sa.local, Remote: sa.remote,
		NATLocal: sa.natLocal, NATRemote: sa.natRemote, FragOK: sa.fragOK,
		Suite: sa.suite, Keys: sa.keys, Ni: sa.ni, Nr: sa.nr, LocalID: sa.localID, RemoteID: sa.remoteID,
		Est: unixNano(sa.established), LastRecv: unixNano(sa.lastReceived), LastSent: unixNano(sa.lastSent),
		SendID: sa.sendID, RecvID: sa.recvID, LastResp: sa.lastResponse,
		DPDAt: timerAt(sa.dpd), RekeyAt: timerAt(sa.ikeRekey), Superseded: sa.superseded,
		ReauthAt: unixNano(sa.reauthAt),
	}
	for _, h := range sa.peerHashes {
		s.PeerHashes = append(s.PeerHashes, uint16(h))
	}
	for _, c := range sa.remoteChain {
		s.Chain = append(s.Chain, c.Raw)
	}
	if sa.handedTo != nil {
		s.HandedTo = sa.handedTo.ourSPI()
	}
	if ps := sa.peerSuccessor; ps != nil && ps.state == StateEstablished {
		s.PeerSucc = ps.ourSPI()
	}
	for _, c := range sa.children {
		s.Children = append(s.Children, exportChild(c))
	}
	// Requests still queued are not saved: Restore rebuilds the Deletes
	// from the deleting flags and rekeys and DPD from their timers.
	if req := sa.pending; req != nil {
		p, succ, err := sa.exportRequest(req)
		if err != nil {
			return s, err
		}
		s.Pending, s.Successor = p, succ
	}
	return s, nil
}

func exportChild(c *childSA) savedChild {
	s := savedChild{
		Reqid: c.reqid, Mode: c.mode, Suite: c.suite, InSPI: c.inSPI, OutSPI: c.outSPI,
		TSLocal: c.tsLocal, TSRemote: c.tsRemote, InSA: c.inSA, OutSA: c.outSA,
		Created: unixNano(c.created), RekeyAfter: c.rekeyAfter, RekeyAt: timerAt(c.rekey),
		Superseded: c.superseded, Deleting: c.deleting, OutPending: c.outPending,
	}
	if r := c.peerRekey; r != nil && r.child != nil {
		s.PeerRekey = &savedOutcome{InSPI: r.child.inSPI, Ni: r.ni, Nr: r.nr}
	}
	return s
}

// exportRequest tells the request in flight by its plaintext.
func (sa *ikeSA) exportRequest(req *request) (*savedRequest, *savedSuccessor, error) {
	s := &savedRequest{Kind: "other", ID: req.id, Exchange: req.exchange, Packets: req.packets, Tries: req.tries, At: timerAt(sa.retransmit)}
	switch req.exchange {
	case wire.ExchangeInformational:
		if len(req.payloads) == 0 {
			s.Kind = "dpd"
			break
		}
		if d, ok := req.payloads[0].(*wire.Delete); ok && len(req.payloads) == 1 {
			switch d.Protocol {
			case wire.ProtocolIKE:
				s.Kind = "delete-ike"
			case wire.ProtocolESP:
				s.Kind, s.SPIs = "delete-child", d.SPIs
			}
		}
	case wire.ExchangeCreateChildSA:
		for _, p := range req.payloads {
			if n, ok := p.(*wire.Notify); ok && n.Type == wire.NotifyRekeySA && len(n.SPI) == 4 {
				old := sa.current().childByInSPI(binary.BigEndian.Uint32(n.SPI))
				if old == nil || old.rekeyNext == nil {
					break
				}
				next := exportChild(old.rekeyNext)
				next.Ni = old.rekeyNext.ni
				if k := old.rekeyNext.ke; k != nil {
					priv, err := suite.PrivateKeyBytes(k)
					if err != nil {
						return nil, nil, err
					}
					next.KEGroup, next.KEPriv = k.Group(), priv
				}
				s.Kind, s.SPIs, s.Next = "rekey-child", []uint32{old.inSPI}, &next
			}
			if x, ok := p.(*wire.SA); ok && len(x.Proposals) > 0 && x.Proposals[0].Protocol == wire.ProtocolIKE {
				n := sa.successorSA
				if n == nil || n.ke == nil {
					break
				}
				priv, err := suite.PrivateKeyBytes(n.ke)
				if err != nil {
					return nil, nil, err
				}
				s.Kind = "rekey-ike"
				return s, &savedSuccessor{SPI: n.spiI, Ni: n.ni, Group: n.ke.Group(), KEPriv: priv}, nil
			}
		}
	}
	return s, nil, nil
}

func (sa *ikeSA) childByInSPI(spi uint32) *childSA {
	for _, c := range sa.children {
		if c.inSPI == spi {
			return c
		}
	}
	return nil
}
