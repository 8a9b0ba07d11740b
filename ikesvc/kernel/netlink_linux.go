package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkConfig configures a Netlink backend.
type NetlinkConfig struct {
	// NetNS is the network namespace to manage. Zero or netns.None() means
	// the caller's current namespace. The handle is only borrowed: the
	// caller closes it, after Close.
	NetNS netns.NsHandle
	// Ownership decides which kernel entries are ikesvc's; the zero value
	// means DefaultOwnership().
	Ownership Ownership
	// Logf receives rare operational messages (lost events); nil discards.
	Logf func(format string, args ...any)
}

// Netlink is the Backend on the Linux kernel's XFRM, through a
// *netlink.Handle bound to one network namespace (never netlink's
// package-level functions, which act on whatever namespace the calling
// thread happens to be in).
type Netlink struct {
	own  Ownership
	ns   netns.NsHandle
	logf func(format string, args ...any)
	h    *netlink.Handle
	// raw is a second XFRM socket in the same namespace for the requests
	// netlink v1.3.1 does not offer on a Handle (dumps we decode ourselves,
	// ALLOCSPI).
	raw *nl.SocketHandle

	applyMu sync.Mutex // one reconcile at a time: each plan assumes its own listing
}

var _ Backend = (*Netlink)(nil)

const netlinkTimeout = 10 * time.Second

// SPI range for AllocSPI, as strongSwan uses: high bit set keeps our SPIs
// apart from manually keyed ones, which are usually small.
const spiMin, spiMax uint32 = 0xc0000000, 0xcfffffff

// NewNetlink opens the XFRM sockets in cfg.NetNS.
func NewNetlink(cfg NetlinkConfig) (*Netlink, error) {
	own := cfg.Ownership
	if own == (Ownership{}) {
		own = DefaultOwnership()
	}
	if err := own.check(); err != nil {
		return nil, err
	}
	ns := cfg.NetNS
	if ns == 0 {
		ns = netns.None()
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_XFRM)
	if err != nil {
		return nil, fmt.Errorf("kernel: open XFRM netlink handle in netns %s: %w", ns, err)
	}
	if err := h.SetSocketTimeout(netlinkTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("kernel: set XFRM socket timeout: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_XFRM)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("kernel: open XFRM dump socket in netns %s: %w", ns, err)
	}
	tv := unix.NsecToTimeval(netlinkTimeout.Nanoseconds())
	_ = s.SetSendTimeout(&tv) // these only store the value; they cannot fail
	_ = s.SetReceiveTimeout(&tv)
	return &Netlink{own: own, ns: ns, logf: logf, h: h, raw: &nl.SocketHandle{Socket: s}}, nil
}

// Close implements Backend.
func (n *Netlink) Close() error {
	n.h.Close()
	n.raw.Close()
	return nil
}

// request runs one request on the raw socket; resType filters the replies.
func (n *Netlink) request(req *nl.NetlinkRequest, resType uint16) ([][]byte, error) {
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_XFRM: n.raw}
	return req.Execute(unix.NETLINK_XFRM, resType)
}

// dump runs an XFRM dump, retrying when the kernel reports that the table
// changed underneath (NLM_F_DUMP_INTR), so a listing is never half old.
func (n *Netlink) dump(ctx context.Context, msgType int, resType uint16) ([][]byte, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msgs, err := n.request(nl.NewNetlinkRequest(msgType, unix.NLM_F_DUMP), resType)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < 5 {
			continue
		}
		return msgs, err
	}
}

// installed lists the owned SAs and policies.
func (n *Netlink) installed(ctx context.Context) (installed, error) {
	have := installed{sas: map[SAID]SA{}, larval: map[SAID]bool{}, policies: map[PolicyID]Policy{}}
	msgs, err := n.dump(ctx, nl.XFRM_MSG_GETSA, nl.XFRM_MSG_NEWSA)
	if err != nil {
		return installed{}, fmt.Errorf("kernel: list XFRM states: %w", err)
	}
	for _, m := range msgs {
		e, err := parseState(m)
		if err != nil {
			return installed{}, fmt.Errorf("kernel: list XFRM states: %w", err)
		}
		if e.proto != unix.IPPROTO_ESP || e.ifid != 0 || !n.own.ownsSA(e.sa) || e.sa.SPI == 0 {
			continue
		}
		if e.larval {
			have.larval[e.sa.ID()] = true
			continue
		}
		have.sas[e.sa.ID()] = e.sa
	}
	msgs, err = n.dump(ctx, nl.XFRM_MSG_GETPOLICY, nl.XFRM_MSG_NEWPOLICY)
	if err != nil {
		return installed{}, fmt.Errorf("kernel: list XFRM policies: %w", err)
	}
	for _, m := range msgs {
		e, err := parsePolicy(m)
		if err != nil {
			return installed{}, fmt.Errorf("kernel: list XFRM policies: %w", err)
		}
		// Socket policies (dir >= 3) belong to whoever set them on a socket.
		if e.policy.Dir > DirFwd || e.subType || e.ifid != 0 || !n.own.ownsPolicy(e.policy) {
			continue
		}
		if e.templates > 1 {
			// Not a shape ikesvc writes; an impossible mode makes the
			// comparison fail so Apply rewrites or removes it.
			e.policy.Template.Mode = Mode(0xff)
		}
		have.policies[e.policy.ID()] = e.policy
	}
	return have, nil
}

// Apply implements Backend.
func (n *Netlink) Apply(ctx context.Context, desired Set) (Changes, error) {
	want, err := normalized(desired, n.own)
	if err != nil {
		return Changes{}, err
	}
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	have, err := n.installed(ctx)
	if err != nil {
		return Changes{}, err
	}
	return execute(ctx, makePlan(want, have, diffSAKernel), netlinkOps{n})
}

// diffSAKernel compares with what the kernel reported. The only fields it
// may not report faithfully are keys: with lockdown=confidentiality the
// kernel redacts them to zeros, and then keys cannot be compared at all.
func diffSAKernel(desired, got SA) saDifference {
	if redacted(got.EncryptionKey) && len(got.EncryptionKey) == len(desired.EncryptionKey) {
		got.EncryptionKey = desired.EncryptionKey
	}
	if redacted(got.IntegrityKey) && len(got.IntegrityKey) == len(desired.IntegrityKey) {
		got.IntegrityKey = desired.IntegrityKey
	}
	return classifySADiff(desired, got, sameSAImmutable)
}

func redacted(key []byte) bool {
	return len(key) > 0 && bytes.Count(key, []byte{0}) == len(key)
}

// List implements Backend.
func (n *Netlink) List(ctx context.Context) (Set, error) {
	have, err := n.installed(ctx)
	if err != nil {
		return Set{}, err
	}
	var s Set
	for _, sa := range have.sas {
		s.SAs = append(s.SAs, sa)
	}
	for _, p := range have.policies {
		s.Policies = append(s.Policies, p)
	}
	sortSAs(s.SAs)
	sortPolicies(s.Policies)
	return s, nil
}

// Counters implements Backend.
func (n *Netlink) Counters(ctx context.Context, id SAID) (Counters, error) {
	id = normalizeID(id)
	req := nl.NewNetlinkRequest(nl.XFRM_MSG_GETSA, unix.NLM_F_ACK)
	req.AddData(saIDMsg(id))
	if !id.Mark.isZero() {
		req.AddData(nl.NewRtAttr(nl.XFRMA_MARK, (&nl.XfrmMark{Value: id.Mark.Value, Mask: id.Mark.Mask}).Serialize()))
	}
	msgs, err := n.request(req, nl.XFRM_MSG_NEWSA)
	if isGone(err) {
		return Counters{}, fmt.Errorf("kernel: counters of %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Counters{}, fmt.Errorf("kernel: counters of %s: %w", id, err)
	}
	if len(msgs) == 0 {
		return Counters{}, fmt.Errorf("kernel: counters of %s: empty reply", id)
	}
	e, err := parseState(msgs[0])
	if err != nil {
		return Counters{}, fmt.Errorf("kernel: counters of %s: %w", id, err)
	}
	return e.counters, nil
}

func saIDMsg(id SAID) *nl.XfrmUsersaId {
	msg := &nl.XfrmUsersaId{Family: familyOf(id.Dst), Proto: unix.IPPROTO_ESP, Spi: nl.Swap32(id.SPI)}
	msg.Daddr.FromIP(id.Dst.AsSlice())
	return msg
}

func familyOf(a netip.Addr) uint16 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// AllocSPI implements Backend (XFRM_MSG_ALLOCSPI: the kernel creates a larval
// state holding the SPI, which a later add must fill with an update).
func (n *Netlink) AllocSPI(ctx context.Context, src, dst netip.Addr, reqid uint32) (uint32, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return 0, fmt.Errorf("kernel: alloc SPI %s->%s: addresses must be of one family", src, dst)
	}
	msg := &nl.XfrmUserSpiInfo{Min: spiMin, Max: spiMax}
	info := &msg.XfrmUsersaInfo
	info.Family = familyOf(dst)
	info.Id.Daddr.FromIP(dst.AsSlice())
	info.Saddr.FromIP(src.AsSlice())
	info.Id.Proto = unix.IPPROTO_ESP
	info.Reqid = reqid
	req := nl.NewNetlinkRequest(nl.XFRM_MSG_ALLOCSPI, unix.NLM_F_ACK)
	req.AddData(msg)
	msgs, err := n.request(req, nl.XFRM_MSG_NEWSA)
	if err != nil {
		return 0, fmt.Errorf("kernel: alloc SPI %s->%s reqid 0x%x: %w", src, dst, reqid, err)
	}
	if len(msgs) == 0 {
		return 0, fmt.Errorf("kernel: alloc SPI %s->%s: empty reply", src, dst)
	}
	e, err := parseState(msgs[0])
	if err != nil {
		return 0, fmt.Errorf("kernel: alloc SPI %s->%s: %w", src, dst, err)
	}
	return e.sa.SPI, nil
}

// DeleteSA implements Backend.
func (n *Netlink) DeleteSA(ctx context.Context, id SAID) error {
	id = normalizeID(id)
	st := &netlink.XfrmState{Dst: id.Dst.AsSlice(), Proto: netlink.XFRM_PROTO_ESP, Spi: int(id.SPI), Mark: toXfrmMark(id.Mark)}
	if err := ignoreGone(n.h.XfrmStateDel(st)); err != nil {
		return &OpError{Op: "delete", Entry: "SA " + id.String(), Err: err}
	}
	return nil
}

// netlinkOps are the primitive kernel operations behind execute.
type netlinkOps struct{ n *Netlink }

func (o netlinkOps) addSA(sa SA) error    { return o.n.h.XfrmStateAdd(toXfrmState(sa)) }
func (o netlinkOps) updateSA(sa SA) error { return o.n.h.XfrmStateUpdate(toXfrmState(sa)) }
func (o netlinkOps) deleteSA(sa SA) error { return o.n.h.XfrmStateDel(toXfrmState(sa)) }

func (o netlinkOps) addPolicy(p Policy) error    { return o.n.h.XfrmPolicyAdd(toXfrmPolicy(p)) }
func (o netlinkOps) updatePolicy(p Policy) error { return o.n.h.XfrmPolicyUpdate(toXfrmPolicy(p)) }
func (o netlinkOps) deletePolicy(p Policy) error { return o.n.h.XfrmPolicyDel(toXfrmPolicy(p)) }

// toXfrmState converts a normalized SA. Integer fields go through int,
// which is 32 bits on the 386 boards: netlink converts back with uint32(),
// so SPIs and reqids above 2^31 survive the round trip.
func toXfrmState(sa SA) *netlink.XfrmState {
	st := &netlink.XfrmState{
		Src: sa.Src.AsSlice(), Dst: sa.Dst.AsSlice(),
		Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.Mode(sa.Mode),
		Spi: int(sa.SPI), Reqid: int(sa.Reqid),
		ReplayWindow: int(sa.ReplayWindow), ESN: sa.ESN,
		Mark: toXfrmMark(sa.Mark),
		Limits: netlink.XfrmStateLimits{
			ByteSoft: sa.Lifetime.SoftBytes, ByteHard: sa.Lifetime.HardBytes,
			PacketSoft: sa.Lifetime.SoftPackets, PacketHard: sa.Lifetime.HardPackets,
			TimeSoft: uint64(sa.Lifetime.SoftTime / time.Second), TimeHard: uint64(sa.Lifetime.HardTime / time.Second),
		},
	}
	name, icv, _ := sa.Encryption.KernelName()
	if sa.Encryption.IsAEAD() {
		st.Aead = &netlink.XfrmStateAlgo{Name: name, Key: sa.EncryptionKey, ICVLen: icv}
	} else {
		st.Crypt = &netlink.XfrmStateAlgo{Name: name, Key: sa.EncryptionKey}
		iname, trunc, _ := sa.Integrity.KernelName()
		st.Auth = &netlink.XfrmStateAlgo{Name: iname, Key: sa.IntegrityKey, TruncateLen: trunc}
	}
	if sa.Encap != nil {
		st.Encap = &netlink.XfrmStateEncap{
			Type: netlink.XFRM_ENCAP_ESPINUDP, SrcPort: int(sa.Encap.SrcPort), DstPort: int(sa.Encap.DstPort),
			OriginalAddress: zeroAddr(sa.Dst),
		}
	}
	if sa.Selector != (Selector{}) {
		st.Selector = selectorPolicy(sa.Selector)
	}
	return st
}

func toXfrmMark(m Mark) *netlink.XfrmMark {
	if m.isZero() {
		return nil
	}
	return &netlink.XfrmMark{Value: m.Value, Mask: m.Mask}
}

func zeroAddr(like netip.Addr) net.IP {
	if like.Is4() {
		return net.IPv4zero.To4()
	}
	return net.IPv6zero
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// selectorPolicy carries a selector in netlink's XfrmPolicy, the type it
// uses for selectors.
func selectorPolicy(s Selector) *netlink.XfrmPolicy {
	return &netlink.XfrmPolicy{
		Src: prefixNet(s.Src), Dst: prefixNet(s.Dst),
		Proto: netlink.Proto(s.Proto), SrcPort: int(s.SrcPort), DstPort: int(s.DstPort),
	}
}

func toXfrmPolicy(p Policy) *netlink.XfrmPolicy {
	xp := selectorPolicy(p.Selector)
	xp.Dir = netlink.Dir(p.Dir)
	xp.Action = netlink.PolicyAction(p.Action)
	xp.Priority = int(p.Priority)
	xp.Mark = toXfrmMark(p.Mark)
	if t := p.Template; t != nil {
		tmpl := netlink.XfrmPolicyTmpl{Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.Mode(t.Mode), Reqid: int(t.Reqid)}
		if t.Mode == ModeTunnel {
			tmpl.Src, tmpl.Dst = t.Src.AsSlice(), t.Dst.AsSlice()
		} else {
			// netlink takes the template family from Dst: a zero address of
			// the selector's family keeps IPv6 transport templates IPv6.
			tmpl.Src, tmpl.Dst = zeroAddr(p.Selector.Dst.Addr()), zeroAddr(p.Selector.Dst.Addr())
		}
		xp.Tmpls = []netlink.XfrmPolicyTmpl{tmpl}
	}
	return xp
}
