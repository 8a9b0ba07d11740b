package model

import (
	"strconv"
	"time"
)

// PeerSettings is one peer's configuration with every default applied: what
// ikesvc runs and what commit validation judges. Consumers read defaults only
// through it (and the other Effective methods), never from the Default*
// constants directly, so a default changes in one place.
type PeerSettings struct {
	Mode         Mode
	StartAction  StartAction
	DPDInterval  time.Duration
	RekeyTime    time.Duration // CHILD_SA
	IKERekeyTime time.Duration
	ReauthTime   time.Duration // 0: off
	DPDAction    DPDAction
	IKEProposals []string // in preference order
	ESPProposals []string
}

// PeerSettings resolves p against the ipsec-wide settings and the
// defaults: a peer's own value wins, then the ipsec one, then Default*.
func (ip *IPsec) PeerSettings(p *Peer) PeerSettings {
	s := PeerSettings{
		Mode:         p.Mode,
		StartAction:  p.StartAction,
		DPDInterval:  seconds(p.DPDInterval, DefaultDPDInterval),
		RekeyTime:    seconds(p.RekeyTime, DefaultRekeyTime),
		IKERekeyTime: seconds(firstInt(p.IKERekeyTime, ip.IKERekeyTime), DefaultIKERekeyTime),
		ReauthTime:   reauthSeconds(p.ReauthTime, ip.ReauthTime),
		DPDAction:    p.DPDAction,
		IKEProposals: firstList(p.IKEProposals, ip.IKEProposals, DefaultIKEProposal),
		ESPProposals: firstList(p.ESPProposals, ip.ESPProposals, DefaultESPProposal),
	}
	if s.Mode == "" {
		s.Mode = DefaultMode
	}
	if s.StartAction == "" {
		s.StartAction = DefaultStartAction
	}
	if s.DPDAction == "" {
		s.DPDAction = DefaultDPDAction(s.StartAction)
	}
	return s
}

// EffectiveCRLMode is crl-mode, or its default when unset.
func (ip *IPsec) EffectiveCRLMode() CRLMode {
	if ip.CRLMode == "" {
		return DefaultCRLMode
	}
	return ip.CRLMode
}

// EffectiveHostname is the host name, or its default when unset.
func (s *System) EffectiveHostname() string {
	if s.Hostname == "" {
		return DefaultHostname
	}
	return s.Hostname
}

// seconds converts a leaf in seconds, 0 meaning unset, to a duration.
func seconds(v, def int) time.Duration {
	if v == 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

// firstInt is own if set (non-zero), else global.
func firstInt(own, global int) int {
	if own != 0 {
		return own
	}
	return global
}

// reauthSeconds resolves a reauth-time leaf pair: the peer's, else the
// ipsec one, else DefaultReauthTime; "0" is off.
func reauthSeconds(own, global string) time.Duration {
	v := DefaultReauthTime
	for _, s := range []string{global, own} {
		if s != "" {
			v = s
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0 // the per-value check refuses such a value
	}
	return time.Duration(n) * time.Second
}

// firstList returns the first non-empty list, else a list of def. The
// result is a copy: callers may not change the configuration through it.
func firstList(own, global []string, def string) []string {
	for _, l := range [][]string{own, global} {
		if len(l) > 0 {
			return append([]string(nil), l...)
		}
	}
	return []string{def}
}
