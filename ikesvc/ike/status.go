package ike

import (
	"context"
	"fmt"
	"sort"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// IKESAStatus describes one IKE SA for `show ipsec sa`.
type IKESAStatus struct {
	Peer      string          `json:"peer"`
	State     string          `json:"state"`
	Initiator bool            `json:"initiator"`
	Local     string          `json:"local"`  // address:port
	Remote    string          `json:"remote"` // address:port
	LocalID   string          `json:"local_id"`
	RemoteID  string          `json:"remote_id"`
	SPIi      string          `json:"spi_i"` // 16 hex digits
	SPIr      string          `json:"spi_r"`
	Algorithm string          `json:"algorithm"` // strongSwan syntax
	NAT       string          `json:"nat,omitempty"`
	Up        time.Time       `json:"up,omitzero"`
	Children  []ChildSAStatus `json:"children,omitempty"`
}

// ChildSAStatus describes one CHILD_SA: the two ESP SAs and their traffic.
type ChildSAStatus struct {
	Reqid      uint32        `json:"reqid"`
	Mode       string        `json:"mode"`
	Algorithm  string        `json:"algorithm"`
	InSPI      string        `json:"spi_in"` // 8 hex digits
	OutSPI     string        `json:"spi_out"`
	LocalTS    []string      `json:"local_ts"`
	RemoteTS   []string      `json:"remote_ts"`
	InBytes    uint64        `json:"bytes_in"`
	InPackets  uint64        `json:"packets_in"`
	OutBytes   uint64        `json:"bytes_out"`
	OutPackets uint64        `json:"packets_out"`
	Installed  time.Time     `json:"installed"`
	RekeyIn    time.Duration `json:"rekey_in_ns"`
	Rekeying   bool          `json:"rekeying,omitempty"`
	// OutboundPending: the outbound SA waits for the SA it replaces to
	// leave (make-before-break); traffic still goes out on that one.
	OutboundPending bool `json:"outbound_pending,omitempty"`
}

// Status lists the IKE SAs by peer name, with CHILD_SA counters from the
// kernel (read after the engine lock is released).
func (e *Engine) Status(ctx context.Context) []IKESAStatus {
	type counterRef struct {
		ike, child int
		in, out    kernel.SAID
	}
	var refs []counterRef
	e.mu.Lock()
	now := e.now()
	var out []IKESAStatus
	sas := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		sas = append(sas, sa)
	}
	sort.Slice(sas, func(i, j int) bool {
		if sas[i].peerName() != sas[j].peerName() {
			return sas[i].peerName() < sas[j].peerName()
		}
		return sas[i].created.Before(sas[j].created)
	})
	for _, sa := range sas {
		st := IKESAStatus{
			Peer: sa.peerName(), State: sa.state.String(), Initiator: sa.initiator,
			Local: sa.local.String(), Remote: sa.remote.String(),
			SPIi: fmt.Sprintf("%016x", sa.spiI), SPIr: fmt.Sprintf("%016x", sa.spiR),
			Algorithm: sa.suite.String(), Up: sa.established,
		}
		if sa.localID.Type != 0 {
			st.LocalID = sa.localID.String()
		}
		if sa.remoteID.Type != 0 {
			st.RemoteID = sa.remoteID.String()
		}
		switch {
		case sa.natLocal && sa.natRemote:
			st.NAT = "both"
		case sa.natLocal:
			st.NAT = "local"
		case sa.natRemote:
			st.NAT = "remote"
		}
		for _, c := range sa.children {
			cs := ChildSAStatus{
				Reqid: c.reqid, Mode: c.mode.String(), Algorithm: c.suite.String(),
				InSPI: fmt.Sprintf("%08x", c.inSPI), OutSPI: fmt.Sprintf("%08x", c.outSPI),
				LocalTS: tsStrings(c.tsLocal), RemoteTS: tsStrings(c.tsRemote),
				Installed: c.created, Rekeying: c.rekeying, OutboundPending: c.outPending,
			}
			if c.rekey.IsPending() {
				cs.RekeyIn = c.created.Add(c.rekeyAfter).Sub(now)
			}
			refs = append(refs, counterRef{len(out), len(st.Children), c.inSA.ID(), c.outSA.ID()})
			st.Children = append(st.Children, cs)
		}
		out = append(out, st)
	}
	e.mu.Unlock()
	for _, r := range refs {
		c := &out[r.ike].Children[r.child]
		if in, err := e.cfg.Kernel.Counters(ctx, r.in); err == nil {
			c.InBytes, c.InPackets = in.Bytes, in.Packets
		}
		if o, err := e.cfg.Kernel.Counters(ctx, r.out); err == nil {
			c.OutBytes, c.OutPackets = o.Bytes, o.Packets
		}
	}
	return out
}

func tsStrings(ts []wire.TrafficSelector) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		s := ""
		for i, p := range tsPrefixes(t) {
			if i > 0 {
				s += ","
			}
			s += p.String()
		}
		if t.IPProtocol != 0 {
			s += fmt.Sprintf("[%d", t.IPProtocol)
			if t.StartPort == t.EndPort {
				s += fmt.Sprintf("/%d", t.StartPort)
			}
			s += "]"
		}
		out = append(out, s)
	}
	return out
}
