package kernel

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// legacyReplayMax is the largest anti-replay window without ESN: the kernel
// clamps the legacy 32-bit bitmap, and netlink v1.3.1 sends the larger
// XFRMA_REPLAY_ESN_VAL bitmap only together with the ESN flag.
const legacyReplayMax = 32

// maxLifetime bounds Lifetime times so that whole seconds fit the kernel's u64
// and time.Duration arithmetic cannot overflow.
const maxLifetime = time.Duration(math.MaxInt64)

// normalized returns the set in the canonical form both backends store and
// compare: prefixes masked, marks with an explicit mask, template addresses
// unmapped. It rejects anything the kernel would refuse or that Apply could
// not recognise as its own afterwards.
func normalized(s Set, own Ownership) (Set, error) {
	var out Set
	var errs []error
	seenSA := map[SAID]bool{}
	for _, sa := range s.SAs {
		n, err := normalizeSA(sa)
		if err == nil && !own.ownsSA(n) {
			err = fmt.Errorf("reqid 0x%x is outside the owned range [0x%x, 0x%x]", n.Reqid, own.ReqidMin, own.ReqidMax)
		}
		if err == nil && seenSA[n.ID()] {
			err = errors.New("duplicate SA (same dst, SPI and mark)")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sa, err))
			continue
		}
		seenSA[n.ID()] = true
		out.SAs = append(out.SAs, n)
	}
	seenPolicy := map[PolicyID]bool{}
	for _, p := range s.Policies {
		n, err := normalizePolicy(p)
		if err == nil && !own.ownsPolicy(n) {
			err = fmt.Errorf("not owned under the ownership rule %+v", own)
		}
		if err == nil && seenPolicy[n.ID()] {
			err = errors.New("duplicate policy (same direction, selector and mark)")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		seenPolicy[n.ID()] = true
		out.Policies = append(out.Policies, n)
	}
	if len(errs) > 0 {
		return Set{}, fmt.Errorf("kernel: invalid desired set: %w", errors.Join(errs...))
	}
	return out, nil
}

func normalizeSA(sa SA) (SA, error) {
	sa.Src, sa.Dst = sa.Src.Unmap(), sa.Dst.Unmap()
	if !sa.Src.IsValid() || !sa.Dst.IsValid() || sa.Src.Is4() != sa.Dst.Is4() {
		return SA{}, fmt.Errorf("src %s and dst %s must be addresses of one family", sa.Src, sa.Dst)
	}
	if sa.SPI < 256 {
		return SA{}, fmt.Errorf("SPI 0x%x is reserved (RFC 4303: 1-255 reserved, 0 invalid)", sa.SPI)
	}
	if sa.Mode != ModeTransport && sa.Mode != ModeTunnel {
		return SA{}, fmt.Errorf("unknown %s", sa.Mode)
	}
	if err := checkAlgorithms(&sa); err != nil {
		return SA{}, err
	}
	if sa.ESN && sa.ReplayWindow == 0 {
		return SA{}, errors.New("ESN needs a non-zero replay window")
	}
	if !sa.ESN && sa.ReplayWindow > legacyReplayMax {
		return SA{}, fmt.Errorf("replay window %d without ESN exceeds %d", sa.ReplayWindow, legacyReplayMax)
	}
	if sa.ESN && sa.ReplayWindow > 4096 {
		return SA{}, fmt.Errorf("replay window %d exceeds 4096", sa.ReplayWindow)
	}
	if sa.Encap != nil && (sa.Encap.SrcPort == 0 || sa.Encap.DstPort == 0) {
		return SA{}, fmt.Errorf("UDP encapsulation ports %d->%d must be non-zero", sa.Encap.SrcPort, sa.Encap.DstPort)
	}
	lt := &sa.Lifetime
	if lt.SoftTime < 0 || lt.HardTime < 0 || lt.HardTime > maxLifetime {
		return SA{}, fmt.Errorf("negative lifetime %v/%v", lt.SoftTime, lt.HardTime)
	}
	lt.SoftTime, lt.HardTime = lt.SoftTime.Truncate(time.Second), lt.HardTime.Truncate(time.Second)
	sa.Mark = normalizeMark(sa.Mark)
	if sa.Selector != (Selector{}) {
		sel, err := normalizeSelector(sa.Selector)
		if err != nil {
			return SA{}, err
		}
		sa.Selector = sel
		if sel.isWildcard() {
			sa.Selector = Selector{}
		}
	}
	return sa, nil
}

func normalizePolicy(p Policy) (Policy, error) {
	sel, err := normalizeSelector(p.Selector)
	if err != nil {
		return Policy{}, err
	}
	p.Selector = sel
	if p.Dir > DirFwd {
		return Policy{}, fmt.Errorf("unknown %s", p.Dir)
	}
	if p.Action > ActionBlock {
		return Policy{}, fmt.Errorf("unknown %s", p.Action)
	}
	p.Mark = normalizeMark(p.Mark)
	if p.Template != nil {
		t := *p.Template
		t.Src, t.Dst = t.Src.Unmap(), t.Dst.Unmap()
		switch t.Mode {
		case ModeTunnel:
			if !t.Src.IsValid() || !t.Dst.IsValid() || t.Src.Is4() != t.Dst.Is4() {
				return Policy{}, fmt.Errorf("tunnel template needs endpoints of one family, got %s->%s", t.Src, t.Dst)
			}
		case ModeTransport:
			// The kernel ignores transport template addresses when it looks
			// up SAs; keeping them zero avoids false differences on readback.
			t.Src, t.Dst = netip.Addr{}, netip.Addr{}
		default:
			return Policy{}, fmt.Errorf("unknown template %s", t.Mode)
		}
		if t.Reqid == 0 {
			return Policy{}, errors.New("template reqid 0 would match any SA")
		}
		p.Template = &t
	}
	return p, nil
}

func normalizeSelector(s Selector) (Selector, error) {
	if !s.Src.IsValid() || !s.Dst.IsValid() {
		return Selector{}, fmt.Errorf("selector %s needs src and dst prefixes", s)
	}
	s.Src = unmapPrefix(s.Src).Masked()
	s.Dst = unmapPrefix(s.Dst).Masked()
	if s.Src.Addr().Is4() != s.Dst.Addr().Is4() {
		return Selector{}, fmt.Errorf("selector %s mixes address families", s)
	}
	return s, nil
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	bits := p.Bits() - 96
	if bits < 0 {
		bits = 0
	}
	return netip.PrefixFrom(p.Addr().Unmap(), bits)
}

func normalizeMark(m Mark) Mark {
	if m.Value != 0 && m.Mask == 0 {
		m.Mask = 0xffffffff
	}
	return m
}

// isWildcard reports a selector that matches everything; SAs store it as the
// zero Selector.
func (s Selector) isWildcard() bool {
	return s.Src.Bits() == 0 && s.Dst.Bits() == 0 && s.Proto == 0 && s.SrcPort == 0 && s.DstPort == 0
}
