package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// This file decodes XFRM messages itself instead of using netlink v1.3.1's
// XfrmStateList/XfrmPolicyList, which lose facts reconcile needs: the ESN
// flag and ESN replay window are not decoded, and addresses are told apart
// by their last 12 bytes being zero, so an IPv6 prefix such as fd00::/8 or
// 2001:db8::/32 comes back as an IPv4 address with a nil mask. Here the
// family field of each structure decides. The fixed headers are read with
// the running GOARCH's kernel layout (xfrmlayout_linux.go), never with nl's
// x86-64-only sizes.

// Unknown transforms read back from the kernel: never equal to a valid one,
// so Apply replaces the SA.
const (
	encrUnknown  Encryption = 0xffff
	integUnknown Integrity  = 0xffff
)

// stateEntry is one decoded XFRM state.
type stateEntry struct {
	sa       SA
	proto    uint8
	larval   bool // no algorithms: an SPI reservation (ALLOCSPI) or acquire placeholder
	ifid     uint32
	counters Counters
}

var errShort = errors.New("message too short")

func addrFrom(a *nl.XfrmAddress, family uint16) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(a[0:4]))
	}
	return netip.AddrFrom16([16]byte(a[0:16]))
}

func selectorFrom(s *nl.XfrmSelector) Selector {
	src, dst := addrFrom(&s.Saddr, s.Family), addrFrom(&s.Daddr, s.Family)
	sel := Selector{
		Src:     netip.PrefixFrom(src, int(s.PrefixlenS)).Masked(),
		Dst:     netip.PrefixFrom(dst, int(s.PrefixlenD)).Masked(),
		Proto:   s.Proto,
		SrcPort: nl.Swap16(s.Sport),
		DstPort: nl.Swap16(s.Dport),
	}
	return sel
}

func fromInf(v uint64) uint64 {
	if v == nl.XFRM_INF {
		return 0
	}
	return v
}

func seconds(v uint64) time.Duration {
	if v > uint64(maxLifetime/time.Second) {
		return maxLifetime.Truncate(time.Second)
	}
	return time.Duration(v) * time.Second
}

func unixTime(sec uint64) time.Time {
	if sec == 0 || sec > 1<<62 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0)
}

// parseState decodes an XFRM_MSG_NEWSA payload (dump entry or reply).
func parseState(b []byte) (stateEntry, error) {
	info, ok := readStruct[xfrmUsersaInfo](b)
	if !ok {
		return stateEntry{}, fmt.Errorf("xfrm state: %w (%d bytes, header is %d)", errShort, len(b), sizeofUsersaInfo)
	}
	return stateFromInfo(&info, b[sizeofUsersaInfo:])
}

func stateFromInfo(info *xfrmUsersaInfo, attrBytes []byte) (stateEntry, error) {
	e := stateEntry{proto: info.ID.Proto, larval: true}
	sa := &e.sa
	sa.Src, sa.Dst = addrFrom(&info.Saddr, info.Family), addrFrom(&info.ID.Daddr, info.Family)
	sa.SPI = nl.Swap32(info.ID.Spi)
	sa.Reqid = info.Reqid
	sa.Mode = Mode(info.Mode)
	sa.ESN = info.Flags&nl.XFRM_STATE_ESN != 0
	sa.ReplayWindow = uint32(info.ReplayWindow)
	sa.Lifetime = Lifetime{
		SoftBytes: fromInf(info.Lft.SoftByteLimit), HardBytes: fromInf(info.Lft.HardByteLimit),
		SoftPackets: fromInf(info.Lft.SoftPacketLimit), HardPackets: fromInf(info.Lft.HardPacketLimit),
		SoftTime: seconds(info.Lft.SoftAddExpiresSeconds), HardTime: seconds(info.Lft.HardAddExpiresSeconds),
	}
	if sel := selectorFrom(&info.Sel); info.Sel.Family != 0 && !sel.isWildcard() {
		sa.Selector = sel
	}
	e.counters = Counters{
		Bytes: info.Curlft.Bytes, Packets: info.Curlft.Packets,
		Added: unixTime(info.Curlft.AddTime), LastUsed: unixTime(info.Curlft.UseTime),
		ReplayDropped: info.Stats.Replay, IntegrityFailed: info.Stats.IntegrityFailed,
	}
	attrs, err := parseAttrs(attrBytes)
	if err != nil {
		return stateEntry{}, fmt.Errorf("xfrm state attributes: %w", err)
	}
	for _, a := range attrs {
		v := a.value
		switch a.typ {
		case nl.XFRMA_ALG_CRYPT:
			name, key, _, err := algoFrom(v, nl.SizeofXfrmAlgo, false)
			if err != nil {
				return stateEntry{}, err
			}
			sa.Encryption, sa.EncryptionKey = encryptionByKernelName(name, 0), key
			e.larval = false
		case nl.XFRMA_ALG_AEAD:
			name, key, icv, err := algoFrom(v, nl.SizeofXfrmAlgoAEAD, true)
			if err != nil {
				return stateEntry{}, err
			}
			sa.Encryption, sa.EncryptionKey = encryptionByKernelName(name, icv), key
			e.larval = false
		case nl.XFRMA_ALG_AUTH_TRUNC:
			name, key, trunc, err := algoFrom(v, nl.SizeofXfrmAlgoAuth, true)
			if err != nil {
				return stateEntry{}, err
			}
			sa.Integrity, sa.IntegrityKey = integrityByKernelName(name, trunc), key
		case nl.XFRMA_ENCAP:
			t, ok := readStruct[nl.XfrmEncapTmpl](v)
			if !ok {
				return stateEntry{}, fmt.Errorf("xfrm encap: %w", errShort)
			}
			sa.Encap = &UDPEncap{SrcPort: nl.Swap16(t.EncapSport), DstPort: nl.Swap16(t.EncapDport)}
			if t.EncapType != uint16(2) { // XFRM_ENCAP_ESPINUDP; anything else is not ours
				sa.Encap.SrcPort, sa.Encap.DstPort = 0, 0
			}
		case nl.XFRMA_MARK:
			sa.Mark = markFrom(v)
		case nl.XFRMA_REPLAY_ESN_VAL:
			// struct xfrm_replay_state_esn: bmp_len, oseq, seq, oseq_hi,
			// seq_hi, replay_window, bmp[].
			if len(v) < 24 {
				return stateEntry{}, fmt.Errorf("xfrm replay esn: %w", errShort)
			}
			sa.ReplayWindow = nl.NativeEndian().Uint32(v[20:24])
		case nl.XFRMA_IF_ID:
			if len(v) >= 4 {
				e.ifid = nl.NativeEndian().Uint32(v)
			}
		}
	}
	return e, nil
}

// algoFrom decodes struct xfrm_algo (withExtra false) or xfrm_algo_auth /
// xfrm_algo_aead (withExtra true: the trunc or ICV length follows the key
// length), checking lengths the nl helpers would index blindly.
func algoFrom(v []byte, size int, withExtra bool) (name string, key []byte, extra int, err error) {
	if len(v) < size {
		return "", nil, 0, fmt.Errorf("xfrm algorithm: %w", errShort)
	}
	ne := nl.NativeEndian()
	keyBits := ne.Uint32(v[64:68])
	if withExtra {
		extra = int(ne.Uint32(v[68:72]))
	}
	keyLen := (uint64(keyBits) + 7) / 8 // uint64: no wrap on 32-bit boards
	if keyLen > uint64(len(v)-size) {
		return "", nil, 0, fmt.Errorf("xfrm algorithm: key of %d bits overruns the attribute", keyBits)
	}
	key = append([]byte(nil), v[size:size+int(keyLen)]...)
	return unix.ByteSliceToString(v[0:64]), key, extra, nil // nl.BytesToString panics without a NUL
}

func markFrom(v []byte) Mark {
	if len(v) < nl.SizeofXfrmMark {
		return Mark{}
	}
	ne := nl.NativeEndian()
	return Mark{Value: ne.Uint32(v[0:4]), Mask: ne.Uint32(v[4:8])}
}

func encryptionByKernelName(name string, icvBits int) Encryption {
	for _, e := range []Encryption{EncrAESCBC, EncrAESGCM16, EncrChaCha20Poly1305} {
		kn, icv, _ := e.KernelName()
		if kn == name && icv == icvBits {
			return e
		}
	}
	return encrUnknown
}

func integrityByKernelName(name string, truncBits int) Integrity {
	for _, i := range []Integrity{IntegHMACSHA1_96, IntegHMACSHA2_256128, IntegHMACSHA2_384192, IntegHMACSHA2_512256} {
		kn, trunc, _ := i.KernelName()
		if kn == name && trunc == truncBits {
			return i
		}
	}
	return integUnknown
}

// policyEntry is one decoded XFRM policy.
type policyEntry struct {
	policy    Policy
	templates int    // more than one: not a policy ikesvc writes
	subType   bool   // XFRM_POLICY_TYPE_SUB (MIPv6): never ours
	ifid      uint32 // policies bound to an xfrm interface are never ours
}

// parsePolicy decodes an XFRM_MSG_NEWPOLICY payload.
func parsePolicy(b []byte) (policyEntry, error) {
	info, ok := readStruct[xfrmUserpolicyInfo](b)
	if !ok {
		return policyEntry{}, fmt.Errorf("xfrm policy: %w (%d bytes, header is %d)", errShort, len(b), sizeofUserpolicyInfo)
	}
	e := policyEntry{policy: Policy{
		Selector: selectorFrom(&info.Sel),
		Dir:      Direction(info.Dir),
		Action:   Action(info.Action),
		Priority: info.Priority,
	}}
	attrs, err := parseAttrs(b[sizeofUserpolicyInfo:])
	if err != nil {
		return policyEntry{}, fmt.Errorf("xfrm policy attributes: %w", err)
	}
	for _, a := range attrs {
		v := a.value
		switch a.typ {
		case nl.XFRMA_TMPL:
			for off := 0; off+nl.SizeofXfrmUserTmpl <= len(v); off += nl.SizeofXfrmUserTmpl {
				e.templates++
				if e.templates > 1 {
					continue
				}
				raw, _ := readStruct[nl.XfrmUserTmpl](v[off:]) // the loop bound checked the length
				t := templateFrom(&raw)
				e.policy.Template = &t
			}
		case nl.XFRMA_MARK:
			e.policy.Mark = markFrom(v)
		case nl.XFRMA_POLICY_TYPE:
			e.subType = len(v) > 0 && v[0] != 0
		case nl.XFRMA_IF_ID:
			if len(v) >= 4 {
				e.ifid = nl.NativeEndian().Uint32(v)
			}
		}
	}
	return e, nil
}

func templateFrom(t *nl.XfrmUserTmpl) Template {
	out := Template{Mode: Mode(t.Mode), Reqid: t.Reqid}
	src, dst := addrFrom(&t.Saddr, t.Family), addrFrom(&t.XfrmId.Daddr, t.Family)
	if !src.IsUnspecified() {
		out.Src = src
	}
	if !dst.IsUnspecified() {
		out.Dst = dst
	}
	return out
}

// parseAcquire decodes an XFRM_MSG_ACQUIRE payload (struct
// xfrm_user_acquire and attributes). netlink v1.3.1 has no decoder and its
// XfrmMonitor only subscribes to expires, so acquires are decoded here.
func parseAcquire(b []byte) (Acquire, error) {
	msg, ok := readStruct[xfrmUserAcquire](b)
	if !ok {
		return Acquire{}, fmt.Errorf("xfrm acquire: %w (%d bytes, header is %d)", errShort, len(b), sizeofUserAcquire)
	}
	a := Acquire{
		Flow:     selectorFrom(&msg.Sel),
		Policy:   selectorFrom(&msg.Policy.Sel),
		Dir:      Direction(msg.Policy.Dir),
		Priority: msg.Policy.Priority,
	}
	attrs, err := parseAttrs(b[sizeofUserAcquire:])
	if err != nil {
		return Acquire{}, fmt.Errorf("xfrm acquire attributes: %w", err)
	}
	t, ok := readStruct[nl.XfrmUserTmpl](findTmpl(attrs))
	if !ok {
		return Acquire{}, errors.New("xfrm acquire without template")
	}
	a.Reqid, a.Mode = t.Reqid, Mode(t.Mode)
	// The kernel fills id.daddr and saddr with the resolved SA endpoints:
	// the template's in tunnel mode, the packet's in transport mode; the
	// template's family covers both (the flow's own family in transport).
	fam := t.Family
	if fam == 0 {
		fam = msg.Sel.Family
	}
	a.Src, a.Dst = addrFrom(&msg.Saddr, fam), addrFrom(&msg.ID.Daddr, fam)
	return a, nil
}

func findTmpl(attrs []rawAttr) []byte {
	for _, at := range attrs {
		if at.typ == nl.XFRMA_TMPL {
			return at.value
		}
	}
	return nil
}

// parseExpire decodes an XFRM_MSG_EXPIRE payload: struct xfrm_user_expire
// (an xfrm_usersa_info and the hard flag) followed by attributes.
func parseExpire(b []byte) (Expire, bool, uint8, error) {
	msg, ok := readStruct[xfrmUserExpire](b)
	if !ok {
		return Expire{}, false, 0, fmt.Errorf("xfrm expire: %w (%d bytes, header is %d)", errShort, len(b), sizeofUserExpire)
	}
	e, err := stateFromInfo(&msg.State, b[sizeofUserExpire:])
	if err != nil {
		return Expire{}, false, 0, err
	}
	ex := Expire{SA: e.sa.ID(), Src: e.sa.Src, Reqid: e.sa.Reqid}
	return ex, msg.Hard != 0, e.proto, nil
}

// rawAttr is one netlink attribute.
type rawAttr struct {
	typ   uint16
	value []byte
}

// parseAttrs splits netlink attributes, rejecting lengths that overrun the
// buffer (nl.ParseRouteAttr slices without checking and would panic).
func parseAttrs(b []byte) ([]rawAttr, error) {
	var out []rawAttr
	ne := nl.NativeEndian()
	for len(b) >= unix.SizeofRtAttr {
		l := int(ne.Uint16(b[0:2]))
		if l < unix.SizeofRtAttr || l > len(b) {
			return nil, fmt.Errorf("attribute length %d in %d bytes", l, len(b))
		}
		out = append(out, rawAttr{typ: ne.Uint16(b[2:4]) & 0x3fff, value: b[unix.SizeofRtAttr:l]}) // 0x3fff: NLA_TYPE_MASK
		next := (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return out, nil
}
