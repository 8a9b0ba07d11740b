package ike

import (
	"context"
	"net/netip"
	"sort"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// policyPriority is the priority of every policy we install; XFRM picks
// the lowest value and ignores selector specificity, and ours all protect
// disjoint traffic.
const policyPriority = 1000

// maxPrefixesPerTS bounds how many policies one odd address range becomes.
const maxPrefixesPerTS = 16

// syncKernel makes the kernel hold exactly the CHILD_SAs of all IKE SAs
// and the policies they and the trap peers need (kernel.Backend is
// reconcile-style: each Apply states the whole desired set). Rekeyed
// CHILD_SAs share their reqid and selectors with the old one, so both
// pairs of SAs live side by side until the old one is deleted; after a
// rekey collision (collision.go) three pairs do, until the old and the
// redundant new one are deleted and one pair per CHILD_SA is left.
func (e *Engine) syncKernel() {
	var set kernel.Set
	seen := map[kernel.PolicyID]bool{}
	add := func(p kernel.Policy) {
		if !seen[p.ID()] {
			seen[p.ID()] = true
			set.Policies = append(set.Policies, p)
		}
	}
	var names []string
	sas := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		sas = append(sas, sa)
	}
	sort.Slice(sas, func(i, j int) bool { return sas[i].created.Before(sas[j].created) })
	e.promoteOutbound(e.liveChildren(sas))
	for _, sa := range sas {
		if len(sa.children) > 0 {
			names = append(names, sa.peerName())
		}
		for _, c := range sa.children {
			set.SAs = append(set.SAs, c.inSA)
			if !c.outPending {
				set.SAs = append(set.SAs, c.outSA)
			}
			for _, p := range childPolicies(c.mode, c.reqid, c.tsLocal, c.tsRemote, sa.local.Addr(), sa.remote.Addr(), true) {
				add(p)
			}
		}
	}
	for _, l := range e.lingering {
		set.SAs = append(set.SAs, l.sa)
	}
	peers := make([]*peer, 0, len(e.peers))
	for _, p := range e.peers {
		peers = append(peers, p)
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].cfg.Name < peers[j].cfg.Name })
	for _, p := range peers {
		if !p.trapped() || e.cfg.LocalAddr == nil {
			continue
		}
		remote := e.remoteOf(p)
		if !remote.IsValid() {
			continue
		}
		local, err := e.cfg.LocalAddr(remote)
		if err != nil {
			e.log.Errorf("ike: peer %s: no trap policy: choosing a local address towards %v: %v", p.cfg.Name, remote, err)
			continue
		}
		local = local.Unmap()
		for _, pol := range childPolicies(p.cfg.Mode, p.reqid, configTS(p.cfg.LocalTS, local), configTS(p.cfg.RemoteTS, remote), local, remote, false) {
			add(pol)
		}
	}
	e.addStale(&set, add) // a previous run's entries, until replaced (stale.go)
	if _, err := e.cfg.Kernel.Apply(context.Background(), set); err != nil {
		if msg := err.Error(); msg != e.applyErr {
			e.applyErr = msg
			e.log.Errorf("ike: installing the SAs and policies of peers %v: %v", names, err)
		}
		return
	}
	e.applyErr = ""
}

// childPolicies are the XFRM policies of one CHILD_SA: out always; in (and
// fwd for tunnels) only when inbound is true (a trap has no inbound SA).
func childPolicies(mode kernel.Mode, reqid uint32, local, remote []wire.TrafficSelector, localAddr, remoteAddr netip.Addr, inbound bool) []kernel.Policy {
	var out []kernel.Policy
	tmpl := func(src, dst netip.Addr) *kernel.Template {
		t := &kernel.Template{Mode: mode, Reqid: reqid}
		if mode == kernel.ModeTunnel {
			t.Src, t.Dst = src, dst
		}
		return t
	}
	for _, l := range local {
		for _, r := range remote {
			if l.StartAddr.Is4() != r.StartAddr.Is4() {
				continue
			}
			proto := l.IPProtocol
			if proto == 0 {
				proto = r.IPProtocol
			}
			for _, lp := range tsPrefixes(l) {
				for _, rp := range tsPrefixes(r) {
					sel := kernel.Selector{Src: lp, Dst: rp, Proto: proto, SrcPort: tsPort(l), DstPort: tsPort(r)}
					out = append(out, kernel.Policy{Selector: sel, Dir: kernel.DirOut, Priority: policyPriority, Template: tmpl(localAddr, remoteAddr)})
					if !inbound {
						continue
					}
					rev := kernel.Selector{Src: rp, Dst: lp, Proto: proto, SrcPort: tsPort(r), DstPort: tsPort(l)}
					out = append(out, kernel.Policy{Selector: rev, Dir: kernel.DirIn, Priority: policyPriority, Template: tmpl(remoteAddr, localAddr)})
					if mode == kernel.ModeTunnel {
						out = append(out, kernel.Policy{Selector: rev, Dir: kernel.DirFwd, Priority: policyPriority, Template: tmpl(remoteAddr, localAddr)})
					}
				}
			}
		}
	}
	return out
}

// tsPort is the selector port XFRM can express: one port, or any.
func tsPort(ts wire.TrafficSelector) uint16 {
	if ts.StartPort == ts.EndPort {
		return ts.StartPort
	}
	return 0
}

// tsPrefixes splits an address range into the prefixes covering it.
func tsPrefixes(ts wire.TrafficSelector) []netip.Prefix {
	return rangePrefixes(ts.StartAddr, ts.EndAddr, maxPrefixesPerTS)
}

// rangePrefixes returns the largest aligned prefixes covering [start, end],
// at most limit of them (the rest of the range is then left out).
func rangePrefixes(start, end netip.Addr, limit int) []netip.Prefix {
	var out []netip.Prefix
	bits := start.BitLen()
	for len(out) < limit && !end.Less(start) {
		// Grow the prefix at start while it stays aligned and within end.
		n := bits
		for n > 0 {
			p := netip.PrefixFrom(start, n-1)
			if p.Masked().Addr() != start || end.Less(lastAddr(p)) {
				break
			}
			n--
		}
		p := netip.PrefixFrom(start, n)
		out = append(out, p)
		last := lastAddr(p)
		next := last.Next()
		if !next.IsValid() || next.Less(start) {
			break
		}
		start = next
	}
	return out
}
