package kernel

import (
	"fmt"
	"net/netip"
	"time"
)

// Mode is the IPsec mode of an SA or a policy template.
type Mode uint8

const (
	ModeTransport Mode = iota // host to host: the ESP header sits inside the original IP header
	ModeTunnel                // gateway: the whole packet is wrapped in a new outer IP header
)

func (m Mode) String() string {
	switch m {
	case ModeTransport:
		return "transport"
	case ModeTunnel:
		return "tunnel"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Direction is the direction of a policy, as the kernel sees traffic.
type Direction uint8

const (
	DirIn  Direction = iota // packets addressed to this host
	DirOut                  // packets this host sends
	DirFwd                  // packets this host routes on (tunnel gateways need in+fwd)
)

func (d Direction) String() string {
	switch d {
	case DirIn:
		return "in"
	case DirOut:
		return "out"
	case DirFwd:
		return "fwd"
	}
	return fmt.Sprintf("dir(%d)", uint8(d))
}

// Action says what a policy does with matching packets.
type Action uint8

const (
	// ActionAllow with a Template means "protect with IPsec" (out) or "must
	// have arrived through IPsec" (in/fwd); without a Template it means bypass.
	ActionAllow Action = iota
	// ActionBlock drops matching packets.
	ActionBlock
)

func (a Action) String() string {
	switch a {
	case ActionAllow:
		return "allow"
	case ActionBlock:
		return "block"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Mark is an XFRM mark: an SA or policy applies only to packets whose
// skb mark satisfies (mark & Mask) == Value. The zero Mark means "no mark".
// A non-zero Value with a zero Mask is stored as Mask 0xffffffff, as the
// kernel and iproute2 do.
type Mark struct {
	Value uint32
	Mask  uint32
}

func (m Mark) isZero() bool { return m.Value == 0 && m.Mask == 0 }

func (m Mark) String() string {
	if m.isZero() {
		return "none"
	}
	return fmt.Sprintf("0x%x/0x%x", m.Value, m.Mask)
}

// Selector describes the traffic a policy (or an SA, optionally) covers.
// Zero ports and Proto mean "any". Src and Dst must be of the same family.
type Selector struct {
	Src, Dst netip.Prefix
	Proto    uint8 // IP protocol number (6 TCP, 17 UDP, 58 ICMPv6, ...), 0 any
	SrcPort  uint16
	DstPort  uint16
}

func (s Selector) String() string {
	out := s.Src.String() + "->" + s.Dst.String()
	if s.Proto != 0 {
		out += fmt.Sprintf(" proto %d", s.Proto)
	}
	if s.SrcPort != 0 || s.DstPort != 0 {
		out += fmt.Sprintf(" ports %d->%d", s.SrcPort, s.DstPort)
	}
	return out
}

// UDPEncap turns on ESP-in-UDP (RFC 3948, XFRM_ENCAP_ESPINUDP) for NAT
// traversal. Ports are the outer UDP ports, usually 4500 both ways; the IKE
// socket must also have the UDP_ENCAP socket option set.
type UDPEncap struct {
	SrcPort, DstPort uint16
}

// Lifetime holds the kernel-enforced SA limits. Zero means "no limit".
// A soft limit makes the kernel send a soft expire (ikesvc rekeys); a hard
// limit deletes the SA and sends a hard expire.
type Lifetime struct {
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
	SoftTime, HardTime       time.Duration // since the SA was added; whole seconds
}

// SAID names one SA the way the kernel looks it up: destination, SPI
// (protocol is always ESP here) and mark.
type SAID struct {
	Dst  netip.Addr
	SPI  uint32
	Mark Mark
}

func (id SAID) String() string {
	s := fmt.Sprintf("esp spi 0x%08x dst %s", id.SPI, id.Dst)
	if !id.Mark.isZero() {
		s += " mark " + id.Mark.String()
	}
	return s
}

// SA is one ESP security association (one direction) as ikesvc wants it
// installed. Keys are copied into the kernel; SA values are compared, so
// callers must not mutate key slices after handing a Set to Apply.
type SA struct {
	Src, Dst netip.Addr // outer addresses
	SPI      uint32
	Reqid    uint32 // links the SA to its policies' templates; also the ownership tag
	Mode     Mode

	Encryption    Encryption
	EncryptionKey []byte // for AEAD: the key followed by the 4-byte salt (RFC 4106/7634)
	Integrity     Integrity
	IntegrityKey  []byte // empty for AEAD

	ESN          bool   // 64-bit extended sequence numbers (RFC 4303)
	ReplayWindow uint32 // anti-replay window in packets; 0 turns replay protection off

	Encap    *UDPEncap // nil: plain ESP
	Lifetime Lifetime
	Mark     Mark
	// Selector optionally restricts the SA to this traffic (strongSwan sets
	// it to the traffic selectors in transport mode). The zero value: any.
	Selector Selector
}

// ID returns the kernel lookup key of the SA.
func (sa SA) ID() SAID { return SAID{Dst: sa.Dst, SPI: sa.SPI, Mark: sa.Mark} }

func (sa SA) String() string {
	alg := sa.Encryption.String()
	if sa.Integrity != IntegNone {
		alg += "/" + sa.Integrity.String()
	}
	return fmt.Sprintf("SA %s src %s reqid 0x%x %s %s", sa.ID(), sa.Src, sa.Reqid, sa.Mode, alg)
}

// Template is the IPsec part of a policy: which SA (by reqid, mode and,
// in tunnel mode, endpoints) must protect the traffic.
type Template struct {
	// Src and Dst are the tunnel endpoints; leave them zero in transport mode
	// (the kernel then uses the packet's own addresses).
	Src, Dst netip.Addr
	Mode     Mode
	Reqid    uint32
}

// Policy is one XFRM policy. The kernel identifies a policy by (Dir,
// Selector, Mark); Priority, Action and Template are its content.
//
// A trap policy for on-demand negotiation is simply an out policy with a
// Template and no SA installed yet: the first matching packet makes the
// kernel send an ACQUIRE (see Event) and ikesvc negotiates the CHILD_SA.
type Policy struct {
	Selector Selector
	Dir      Direction
	Action   Action
	Priority uint32 // lower value wins; the kernel ignores selector specificity
	Mark     Mark
	Template *Template // nil: no IPsec (bypass with ActionAllow)
}

// PolicyID is the kernel's identity of a policy.
type PolicyID struct {
	Dir      Direction
	Selector Selector
	Mark     Mark
}

// ID returns the kernel identity of the policy.
func (p Policy) ID() PolicyID {
	return PolicyID{Dir: p.Dir, Selector: p.Selector, Mark: p.Mark}
}

func (id PolicyID) String() string {
	s := fmt.Sprintf("policy %s dir %s", id.Selector, id.Dir)
	if !id.Mark.isZero() {
		s += " mark " + id.Mark.String()
	}
	return s
}

func (p Policy) String() string {
	s := fmt.Sprintf("%s prio %d %s", p.ID(), p.Priority, p.Action)
	if t := p.Template; t != nil {
		s += fmt.Sprintf(" tmpl %s reqid 0x%x", t.Mode, t.Reqid)
		if t.Mode == ModeTunnel {
			s += fmt.Sprintf(" %s->%s", t.Src, t.Dst)
		}
	}
	return s
}

// Set is everything ikesvc owns in the kernel: Apply makes the kernel's owned
// entries equal to it.
type Set struct {
	SAs      []SA
	Policies []Policy
}

// Counters are an SA's traffic statistics for `show ipsec sa`.
type Counters struct {
	Bytes, Packets  uint64
	Added, LastUsed time.Time // LastUsed is zero before the first packet
	ReplayDropped   uint32    // packets dropped by the anti-replay check
	IntegrityFailed uint32    // packets that failed authentication
}

// Changes counts what one Apply did; all zero means the kernel already held
// the desired set.
type Changes struct {
	SAsAdded, SAsUpdated, SAsReplaced, SAsDeleted   int
	PoliciesAdded, PoliciesUpdated, PoliciesDeleted int
}

// None reports whether Apply changed nothing.
func (c Changes) None() bool { return c == Changes{} }

func (c Changes) String() string {
	return fmt.Sprintf("SAs +%d ~%d replaced %d -%d, policies +%d ~%d -%d",
		c.SAsAdded, c.SAsUpdated, c.SAsReplaced, c.SAsDeleted,
		c.PoliciesAdded, c.PoliciesUpdated, c.PoliciesDeleted)
}
