package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// Netlink is the Backend on the Linux kernel's XFRM, through its own
// XFRM netlink socket bound to one network namespace. It builds and decodes
// every XFRM message itself (xfrmmsg_linux.go, xfrmparse_linux.go):
// netlink v1.3.1's Handle.XfrmState*/XfrmPolicy* send x86-64-sized headers,
// which the i386 kernel of the boards misreads (xfrmlayout_linux.go).
type Netlink struct {
	own  Ownership
	ns   netns.NsHandle
	logf func(format string, args ...any)
	raw  *nl.SocketHandle

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
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_XFRM)
	if err != nil {
		return nil, fmt.Errorf("kernel: open XFRM netlink socket in netns %s: %w", ns, err)
	}
	tv := unix.NsecToTimeval(netlinkTimeout.Nanoseconds())
	_ = s.SetSendTimeout(&tv) // these only store the value; they cannot fail
	_ = s.SetReceiveTimeout(&tv)
	return &Netlink{own: own, ns: ns, logf: logf, raw: &nl.SocketHandle{Socket: s}}, nil
}

// Close implements Backend.
func (n *Netlink) Close() error {
	n.raw.Close()
	return nil
}

// request runs one request on the socket; resType filters the replies (0
// for requests answered by an ack only).
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
	msgs, err := n.request(allocSPIRequest(src, dst, reqid, spiMin, spiMax), nl.XFRM_MSG_NEWSA)
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
	if err := ignoreGone(n.send(deleteSARequest(id, netip.Addr{}))); err != nil {
		return &OpError{Op: "delete", Entry: "SA " + id.String(), Err: err}
	}
	return nil
}

// send runs a request answered by an ack only.
func (n *Netlink) send(req *nl.NetlinkRequest) error {
	_, err := n.request(req, 0)
	return err
}

// netlinkOps are the primitive kernel operations behind execute.
type netlinkOps struct{ n *Netlink }

func (o netlinkOps) addSA(sa SA) error    { return o.n.send(saRequest(nl.XFRM_MSG_NEWSA, sa)) }
func (o netlinkOps) updateSA(sa SA) error { return o.n.send(saRequest(nl.XFRM_MSG_UPDSA, sa)) }
func (o netlinkOps) deleteSA(sa SA) error { return o.n.send(deleteSARequest(sa.ID(), sa.Src)) }

func (o netlinkOps) addPolicy(p Policy) error {
	return o.n.send(policyRequest(nl.XFRM_MSG_NEWPOLICY, p))
}

func (o netlinkOps) updatePolicy(p Policy) error {
	return o.n.send(policyRequest(nl.XFRM_MSG_UPDPOLICY, p))
}

func (o netlinkOps) deletePolicy(p Policy) error { return o.n.send(deletePolicyRequest(p)) }
