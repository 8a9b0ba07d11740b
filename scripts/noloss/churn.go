package noloss

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
)

// Proposals the churn picks from (all in the firmware's suite).
var (
	churnIKE = []string{"aes128-sha256-ecp256", "aes128gcm16-prfsha256-x25519", "aes256-sha256-x25519", "aes256gcm16-prfsha256-ecp256"}
	churnESP = []string{"aes128-sha256", "aes128gcm16", "aes256-sha256", "aes128-sha1"}
)

// churnStart weighs the new peers' start actions: mostly trap (policies
// go into the kernel at once, so the kernel churns with the config) and
// none, a few start (a handshake to nowhere costs DH under emulation).
var churnStart = []string{"trap", "trap", "trap", "trap", "none", "none", "none", "start"}

// churnPeer is what the generator knows of a peer it made.
type churnPeer struct {
	addr   netip.Addr
	tunnel bool
}

// Churn returns the CLI lines of n random commits on moon, in one
// configuration session: peers added (IPv4 and IPv6, transport and
// tunnel, start-action trap, none or start), removed, their modes and
// proposals changed, and now and then the real peer's mode and
// proposals too. The new peers' addresses lead nowhere (10.200/16,
// fd99::/64), so their handshakes never finish; what matters is that
// ikesvc and the kernel follow every commit and keep nothing of them.
// real is the real peer of the final configuration (in tunnel mode).
func Churn(seed uint64, n int, real Peer, local, remote netip.Addr) []string {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	peers := map[string]*churnPeer{}
	// "peer ike-proposal": whether the peer has one (Peer.Lines sets both).
	hasProposal := map[string]bool{real.Name + " ike-proposal": true, real.Name + " esp-proposal": true}
	realTunnel := real.Mode == "tunnel"
	next := 0
	lines := []string{"configure"}
	names := func() []string {
		var out []string
		for name := range peers {
			out = append(out, name)
		}
		sort.Strings(out)
		return out
	}
	tsLines := func(pre string, l, r netip.Addr, v6 bool) []string {
		if l.IsValid() && r.IsValid() {
			return []string{pre + "local-ts " + netip.PrefixFrom(l, l.BitLen()).String(), pre + "remote-ts " + netip.PrefixFrom(r, r.BitLen()).String()}
		}
		if v6 {
			return []string{pre + fmt.Sprintf("local-ts fd98:%x::/64", rng.IntN(0xffff)), pre + fmt.Sprintf("remote-ts fd97:%x::/64", rng.IntN(0xffff))}
		}
		return []string{pre + fmt.Sprintf("local-ts 10.198.%d.0/24", rng.IntN(256)), pre + fmt.Sprintf("remote-ts 10.197.%d.0/24", rng.IntN(256))}
	}
	add := func() {
		name := fmt.Sprintf("c%d", next)
		next++
		p := &churnPeer{tunnel: rng.IntN(2) == 0}
		v6 := rng.IntN(2) == 0
		if v6 {
			p.addr = netip.AddrFrom16([16]byte{0xfd, 0x99, 14: byte(rng.IntN(256)), 15: byte(1 + rng.IntN(254))})
		} else {
			p.addr = netip.AddrFrom4([4]byte{10, 200, byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		}
		peers[name] = p
		hasProposal[name+" ike-proposal"], hasProposal[name+" esp-proposal"] = true, true
		pre := "set ipsec peer " + name + " "
		lines = append(lines,
			pre+"address "+p.addr.String(),
			pre+fmt.Sprintf("remote-id-pattern %q", "C=CH, O=alixsec interop, CN=*"),
			pre+"start-action "+churnStart[rng.IntN(len(churnStart))],
			pre+"ike-proposal "+churnIKE[rng.IntN(len(churnIKE))],
			pre+"esp-proposal "+churnESP[rng.IntN(len(churnESP))])
		if p.tunnel {
			lines = append(lines, pre+"mode tunnel")
			lines = append(lines, tsLines(pre, netip.Addr{}, netip.Addr{}, v6)...)
		} else {
			lines = append(lines, pre+"mode transport")
		}
	}
	// toggle flips a peer's mode; a tunnel gets traffic selectors.
	toggle := func(name string, tunnel *bool, v6 bool, l, r netip.Addr) {
		pre := "set ipsec peer " + name + " "
		if *tunnel {
			lines = append(lines, "delete ipsec peer "+name+" local-ts", "delete ipsec peer "+name+" remote-ts", pre+"mode transport")
		} else {
			lines = append(lines, pre+"mode tunnel")
			lines = append(lines, tsLines(pre, l, r, v6)...)
		}
		*tunnel = !*tunnel
	}
	// propose replaces one of a peer's proposals (proposals repeat: a
	// set adds one, so the old one is deleted first).
	propose := func(name string) {
		kind, value := "ike-proposal", churnIKE[rng.IntN(len(churnIKE))]
		if rng.IntN(2) == 0 {
			kind, value = "esp-proposal", churnESP[rng.IntN(len(churnESP))]
		}
		if hasProposal[name+" "+kind] {
			lines = append(lines, "delete ipsec peer "+name+" "+kind)
		}
		lines = append(lines, "set ipsec peer "+name+" "+kind+" "+value)
		hasProposal[name+" "+kind] = true
	}
	for i := 1; i <= n; i++ {
		for ops := 1 + rng.IntN(3); ops > 0; ops-- {
			all := names()
			switch op := rng.IntN(10); {
			case op < 4 && len(peers) < 8, len(peers) == 0:
				add()
			case op < 6:
				name := all[rng.IntN(len(all))]
				delete(peers, name)
				delete(hasProposal, name+" ike-proposal")
				delete(hasProposal, name+" esp-proposal")
				lines = append(lines, "delete ipsec peer "+name)
			case op < 8:
				name := all[rng.IntN(len(all))]
				p := peers[name]
				toggle(name, &p.tunnel, p.addr.Is6(), netip.Addr{}, netip.Addr{})
			case op < 9:
				propose(all[rng.IntN(len(all))])
			default:
				// The real peer: its mode or its proposals.
				if rng.IntN(2) == 0 {
					toggle(real.Name, &realTunnel, false, local, remote)
				} else {
					propose(real.Name)
				}
			}
		}
		lines = append(lines, fmt.Sprintf("commit churn-%d", i))
	}
	return append(lines, "exit")
}
