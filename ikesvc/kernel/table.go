package kernel

import (
	"fmt"
	"io"
	"sort"
)

// Table is everything the kernel's XFRM tables hold, whoever installed
// it: what an admin (or a test) compares with the SAs ikesvc reports, so
// that leftovers show. Keys are never part of it.
type Table struct {
	States   []TableState
	Policies []TablePolicy
}

// TableState is one XFRM state.
type TableState struct {
	SA     SA // keys cleared
	Proto  uint8
	Larval bool   // an SPI reservation or acquire placeholder
	IfID   uint32 // xfrm interface, 0 none
}

// TablePolicy is one XFRM policy; socket policies (set on one socket,
// like ikesvc's IKE bypass) have Socket set.
type TablePolicy struct {
	Policy    Policy
	Socket    bool
	Templates int
	IfID      uint32
}

// protoName names the IPsec protocols of XFRM states.
func protoName(p uint8) string {
	switch p {
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 108:
		return "comp"
	}
	return fmt.Sprintf("proto(%d)", p)
}

// WriteTo prints the table in the layout of iproute2's `ip xfrm state`
// and `ip xfrm policy` (the fields that say what an entry is), states
// first, each part sorted.
func (t Table) WriteTo(w io.Writer) (int64, error) {
	var lines []string
	states := append([]TableState(nil), t.States...)
	sort.Slice(states, func(i, j int) bool { return states[i].SA.ID().String() < states[j].SA.ID().String() })
	for _, s := range states {
		l := fmt.Sprintf("src %s dst %s\n\tproto %s spi 0x%x reqid %d mode %s\n", s.SA.Src, s.SA.Dst, protoName(s.Proto), s.SA.SPI, s.SA.Reqid, s.SA.Mode)
		if s.SA.Encap != nil {
			l += fmt.Sprintf("\tencap espinudp sport %d dport %d\n", s.SA.Encap.SrcPort, s.SA.Encap.DstPort)
		}
		if s.Larval {
			l += "\tlarval (no keys yet)\n"
		}
		if s.IfID != 0 {
			l += fmt.Sprintf("\tif_id %d\n", s.IfID)
		}
		lines = append(lines, l)
	}
	policies := append([]TablePolicy(nil), t.Policies...)
	sort.Slice(policies, func(i, j int) bool {
		return policies[i].Policy.ID().String() < policies[j].Policy.ID().String()
	})
	for _, p := range policies {
		dir := p.Policy.Dir.String()
		if p.Socket {
			dir = "socket " + dir
		}
		sel := p.Policy.Selector
		l := fmt.Sprintf("src %s dst %s", sel.Src, sel.Dst)
		if sel.Proto != 0 {
			l += fmt.Sprintf(" proto %d", sel.Proto)
		}
		if sel.SrcPort != 0 || sel.DstPort != 0 {
			l += fmt.Sprintf(" sport %d dport %d", sel.SrcPort, sel.DstPort)
		}
		l += fmt.Sprintf("\n\tdir %s priority %d action %s\n", dir, p.Policy.Priority, p.Policy.Action)
		if tp := p.Policy.Template; tp != nil {
			l += fmt.Sprintf("\ttmpl src %s dst %s proto esp reqid %d mode %s\n", addrOrAny(tp.Src), addrOrAny(tp.Dst), tp.Reqid, tp.Mode)
		}
		if p.Templates > 1 {
			l += fmt.Sprintf("\t(%d templates)\n", p.Templates)
		}
		if p.IfID != 0 {
			l += fmt.Sprintf("\tif_id %d\n", p.IfID)
		}
		lines = append(lines, l)
	}
	var n int64
	for _, l := range lines {
		m, err := io.WriteString(w, l)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// addrOrAny prints a template's zero (transport mode) address as iproute2
// does.
func addrOrAny(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.String()
}
