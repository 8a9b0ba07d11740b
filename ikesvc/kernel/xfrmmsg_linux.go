package kernel

import (
	"net/netip"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// This file builds the XFRM requests ikesvc sends: the same messages and
// attributes netlink v1.3.1's Handle.XfrmState*/XfrmPolicy* send, but with
// the fixed headers of xfrmlayout_linux.go, whose size is the kernel's for
// the running GOARCH (netlink's are x86-64's, 4 bytes too long on i386).

// newXfrmRequest assembles a request: the fixed header, then attributes.
func newXfrmRequest(msgType, flags int, header []byte, attrs ...nl.NetlinkRequestData) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(msgType, flags)
	req.AddData(rawData(header))
	for _, a := range attrs {
		req.AddData(a)
	}
	return req
}

func toXfrmAddress(a netip.Addr) nl.XfrmAddress {
	var x nl.XfrmAddress
	if a.IsValid() {
		s := a.AsSlice() // 4 bytes for IPv4: xfrm_address_t's a4 is its head
		copy(x[:], s)
	}
	return x
}

// toXfrmSelector encodes a selector; its family is the destination's.
// Ports are matched exactly when given (mask all ones), any port otherwise.
func toXfrmSelector(s Selector) nl.XfrmSelector {
	sel := nl.XfrmSelector{
		Daddr: toXfrmAddress(s.Dst.Addr()), Saddr: toXfrmAddress(s.Src.Addr()),
		Family:     familyOf(s.Dst.Addr()),
		PrefixlenD: uint8(s.Dst.Bits()), PrefixlenS: uint8(s.Src.Bits()),
		Proto: s.Proto,
		Dport: nl.Swap16(s.DstPort), Sport: nl.Swap16(s.SrcPort),
	}
	if s.DstPort != 0 {
		sel.DportMask = 0xffff
	}
	if s.SrcPort != 0 {
		sel.SportMask = 0xffff
	}
	return sel
}

// markAttr is XFRMA_MARK, or nil for no mark. A zero mask with a value
// means an exact match, as netlink and iproute2 read it.
func markAttr(m Mark) nl.NetlinkRequestData {
	if m.isZero() {
		return nil
	}
	mask := m.Mask
	if mask == 0 {
		mask = ^uint32(0)
	}
	x := nl.XfrmMark{Value: m.Value, Mask: mask}
	return nl.NewRtAttr(nl.XFRMA_MARK, structBytes(&x))
}

// appendAttr appends a, skipping nil (an absent optional attribute).
func appendAttr(attrs []nl.NetlinkRequestData, a nl.NetlinkRequestData) []nl.NetlinkRequestData {
	if a == nil {
		return attrs
	}
	return append(attrs, a)
}

// orInf is a byte or packet limit, 0 meaning none (XFRM_INF to the kernel).
func orInf(v uint64) uint64 {
	if v == 0 {
		return nl.XFRM_INF
	}
	return v
}

// usersaInfo is the xfrm_usersa_info of a normalized SA.
func usersaInfo(sa SA) xfrmUsersaInfo {
	info := xfrmUsersaInfo{
		Saddr:  toXfrmAddress(sa.Src),
		Reqid:  sa.Reqid,
		Family: familyOf(sa.Dst),
		Mode:   uint8(sa.Mode),
		Lft: nl.XfrmLifetimeCfg{
			SoftByteLimit: orInf(sa.Lifetime.SoftBytes), HardByteLimit: orInf(sa.Lifetime.HardBytes),
			SoftPacketLimit: orInf(sa.Lifetime.SoftPackets), HardPacketLimit: orInf(sa.Lifetime.HardPackets),
			SoftAddExpiresSeconds: uint64(sa.Lifetime.SoftTime / time.Second),
			HardAddExpiresSeconds: uint64(sa.Lifetime.HardTime / time.Second),
		},
	}
	info.ID.Daddr, info.ID.Spi, info.ID.Proto = toXfrmAddress(sa.Dst), nl.Swap32(sa.SPI), unix.IPPROTO_ESP
	if sa.ESN {
		// The window travels in XFRMA_REPLAY_ESN_VAL; the u8 must be 0.
		info.Flags |= nl.XFRM_STATE_ESN
	} else {
		info.ReplayWindow = uint8(sa.ReplayWindow) // validate caps it at legacyReplayMax
	}
	if sa.Selector != (Selector{}) {
		info.Sel = toXfrmSelector(sa.Selector)
	}
	return info
}

// algoAttr encodes struct xfrm_algo, xfrm_algo_auth (extra: truncation
// bits) or xfrm_algo_aead (extra: ICV bits): name[64], key bits, then the
// extra u32 for the last two, then the key.
func algoAttr(typ int, name string, key []byte, withExtra bool, extra int) nl.NetlinkRequestData {
	head := 68
	if withExtra {
		head = 72
	}
	b := make([]byte, head+len(key))
	copy(b[:63], name) // at most 63 bytes: the kernel wants a NUL inside the 64
	ne := nl.NativeEndian()
	ne.PutUint32(b[64:68], uint32(len(key)*8))
	if withExtra {
		ne.PutUint32(b[68:72], uint32(extra))
	}
	copy(b[head:], key)
	return nl.NewRtAttr(typ, b)
}

// replayESNAttr is XFRMA_REPLAY_ESN_VAL: struct xfrm_replay_state_esn with
// zero counters and no bitmap words (the kernel accepts the bare header and
// allocates the bitmap from bmp_len).
func replayESNAttr(window uint32) nl.NetlinkRequestData {
	b := make([]byte, 24)
	ne := nl.NativeEndian()
	ne.PutUint32(b[0:4], (window+31)/32) // bmp_len in u32 words
	ne.PutUint32(b[20:24], window)
	return nl.NewRtAttr(nl.XFRMA_REPLAY_ESN_VAL, b)
}

// saRequest is XFRM_MSG_NEWSA or XFRM_MSG_UPDSA for a normalized SA.
func saRequest(msgType int, sa SA) *nl.NetlinkRequest {
	info := usersaInfo(sa)
	var attrs []nl.NetlinkRequestData
	name, icv, _ := sa.Encryption.KernelName()
	if sa.Encryption.IsAEAD() {
		attrs = append(attrs, algoAttr(nl.XFRMA_ALG_AEAD, name, sa.EncryptionKey, true, icv))
	} else {
		iname, trunc, _ := sa.Integrity.KernelName()
		attrs = append(attrs,
			algoAttr(nl.XFRMA_ALG_AUTH_TRUNC, iname, sa.IntegrityKey, true, trunc),
			algoAttr(nl.XFRMA_ALG_CRYPT, name, sa.EncryptionKey, false, 0))
	}
	if sa.Encap != nil {
		// encap_oa (the original address, for NAT-T checksum fixes) stays
		// zero, as netlink sent it.
		et := nl.XfrmEncapTmpl{EncapType: 2, EncapSport: nl.Swap16(sa.Encap.SrcPort), EncapDport: nl.Swap16(sa.Encap.DstPort)} // 2: XFRM_ENCAP_ESPINUDP
		attrs = append(attrs, nl.NewRtAttr(nl.XFRMA_ENCAP, structBytes(&et)))
	}
	attrs = appendAttr(attrs, markAttr(sa.Mark))
	if sa.ESN {
		attrs = append(attrs, replayESNAttr(sa.ReplayWindow))
	}
	return newXfrmRequest(msgType, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK, structBytes(&info), attrs...)
}

// deleteSARequest is XFRM_MSG_DELSA for id; a valid src narrows the match
// to that source (XFRMA_SRCADDR, an xfrm_address_t).
func deleteSARequest(id SAID, src netip.Addr) *nl.NetlinkRequest {
	msg := saIDMsg(id)
	attrs := appendAttr(nil, markAttr(id.Mark))
	if src.IsValid() {
		a := toXfrmAddress(src)
		attrs = append(attrs, nl.NewRtAttr(nl.XFRMA_SRCADDR, structBytes(&a)))
	}
	return newXfrmRequest(nl.XFRM_MSG_DELSA, unix.NLM_F_ACK, structBytes(msg), attrs...)
}

// allocSPIRequest is XFRM_MSG_ALLOCSPI for an ESP SA src->dst in [lo, hi].
func allocSPIRequest(src, dst netip.Addr, reqid, lo, hi uint32) *nl.NetlinkRequest {
	msg := xfrmUserSpiInfo{Min: lo, Max: hi}
	msg.Info.Family = familyOf(dst)
	msg.Info.ID.Daddr, msg.Info.ID.Proto = toXfrmAddress(dst), unix.IPPROTO_ESP
	msg.Info.Saddr = toXfrmAddress(src)
	msg.Info.Reqid = reqid
	return newXfrmRequest(nl.XFRM_MSG_ALLOCSPI, unix.NLM_F_ACK, structBytes(&msg))
}

// templateOf encodes a policy's template. Transport templates carry zero
// addresses of the selector's family (the kernel takes the packet's).
func templateOf(p Policy) nl.XfrmUserTmpl {
	t := p.Template
	tmpl := nl.XfrmUserTmpl{Mode: uint8(t.Mode), Reqid: t.Reqid, Aalgos: ^uint32(0), Ealgos: ^uint32(0), Calgos: ^uint32(0)}
	tmpl.XfrmId.Proto = unix.IPPROTO_ESP
	tmpl.Family = familyOf(p.Selector.Dst.Addr())
	if t.Mode == ModeTunnel {
		tmpl.Family = familyOf(t.Dst)
		tmpl.XfrmId.Daddr, tmpl.Saddr = toXfrmAddress(t.Dst), toXfrmAddress(t.Src)
	}
	return tmpl
}

// policyRequest is XFRM_MSG_NEWPOLICY or XFRM_MSG_UPDPOLICY.
func policyRequest(msgType int, p Policy) *nl.NetlinkRequest {
	info := xfrmUserpolicyInfo{
		Sel:      toXfrmSelector(p.Selector),
		Priority: p.Priority,
		Dir:      uint8(p.Dir),
		Action:   uint8(p.Action),
		Lft: nl.XfrmLifetimeCfg{
			SoftByteLimit: nl.XFRM_INF, HardByteLimit: nl.XFRM_INF,
			SoftPacketLimit: nl.XFRM_INF, HardPacketLimit: nl.XFRM_INF,
		},
	}
	var attrs []nl.NetlinkRequestData
	if p.Template != nil {
		tmpl := templateOf(p)
		attrs = append(attrs, nl.NewRtAttr(nl.XFRMA_TMPL, structBytes(&tmpl)))
	}
	attrs = appendAttr(attrs, markAttr(p.Mark))
	return newXfrmRequest(msgType, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK, structBytes(&info), attrs...)
}

// deletePolicyRequest is XFRM_MSG_DELPOLICY (struct xfrm_userpolicy_id,
// the same on every arch).
func deletePolicyRequest(p Policy) *nl.NetlinkRequest {
	msg := nl.XfrmUserpolicyId{Sel: toXfrmSelector(p.Selector), Dir: uint8(p.Dir)}
	return newXfrmRequest(nl.XFRM_MSG_DELPOLICY, unix.NLM_F_ACK, structBytes(&msg), appendAttr(nil, markAttr(p.Mark))...)
}
