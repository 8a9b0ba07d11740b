package kernel

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func xfrmAddr(a netip.Addr) nl.XfrmAddress {
	var x nl.XfrmAddress
	x.FromIP(a.AsSlice())
	return x
}

func attr(typ int, data []byte) []byte { return nl.NewRtAttr(typ, data).Serialize() }

// stateMsg builds an XFRM_MSG_NEWSA payload the way the kernel dumps an ESN
// AEAD SA with NAT-T, a mark and a lifetime.
func stateMsg(src, dst netip.Addr, spi, reqid uint32) []byte {
	info := xfrmUsersaInfo{Reqid: reqid, Mode: 1, Flags: nl.XFRM_STATE_ESN, Family: familyOf(dst)}
	info.ID.Daddr, info.Saddr = xfrmAddr(dst), xfrmAddr(src)
	info.ID.Spi, info.ID.Proto = nl.Swap32(spi), unix.IPPROTO_ESP
	info.Lft = nl.XfrmLifetimeCfg{SoftByteLimit: nl.XFRM_INF, HardByteLimit: 1 << 30, SoftPacketLimit: nl.XFRM_INF,
		HardPacketLimit: nl.XFRM_INF, SoftAddExpiresSeconds: 3000, HardAddExpiresSeconds: 3600}
	info.Curlft = nl.XfrmLifetimeCur{Bytes: 12345, Packets: 67, AddTime: 1700000000}
	info.Stats.Replay = 2
	b := append([]byte(nil), structBytes(&info)...)
	aead := nl.XfrmAlgoAEAD{AlgKeyLen: 36 * 8, AlgICVLen: 128, AlgKey: key(36, 7)}
	copy(aead.AlgName[:], "rfc4106(gcm(aes))")
	b = append(b, attr(nl.XFRMA_ALG_AEAD, aead.Serialize())...)
	encap := make([]byte, nl.SizeofXfrmEncapTmpl)
	et := nl.DeserializeXfrmEncapTmpl(encap)
	et.EncapType, et.EncapSport, et.EncapDport = 2, nl.Swap16(4500), nl.Swap16(4501)
	b = append(b, attr(nl.XFRMA_ENCAP, encap)...)
	b = append(b, attr(nl.XFRMA_MARK, (&nl.XfrmMark{Value: 5, Mask: 0xff}).Serialize())...)
	esn := make([]byte, 24+16)
	nl.NativeEndian().PutUint32(esn[0:4], 4)
	nl.NativeEndian().PutUint32(esn[20:24], 128)
	b = append(b, attr(nl.XFRMA_REPLAY_ESN_VAL, esn)...)
	return b
}

func TestParseState(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.Addr
	}{
		{"ipv4", hostA, hostB},
		// netlink v1.3.1 would read fd00::2 back as 253.0.0.0.
		{"ipv6 with zero tail", host6, peer6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := parseState(stateMsg(tt.src, tt.dst, 0xc0001234, testReqid))
			if err != nil {
				t.Fatal(err)
			}
			want := SA{
				Src: tt.src, Dst: tt.dst, SPI: 0xc0001234, Reqid: testReqid, Mode: ModeTunnel,
				Encryption: EncrAESGCM16, EncryptionKey: key(36, 7), ESN: true, ReplayWindow: 128,
				Encap:    &UDPEncap{SrcPort: 4500, DstPort: 4501},
				Lifetime: Lifetime{HardBytes: 1 << 30, SoftTime: 3000 * time.Second, HardTime: time.Hour},
				Mark:     Mark{Value: 5, Mask: 0xff},
			}
			if e.larval || e.proto != unix.IPPROTO_ESP || diffSAFull(want, e.sa) != saSame {
				t.Errorf("got %+v (larval %v), want %+v", e.sa, e.larval, want)
			}
			if e.counters.Bytes != 12345 || e.counters.Packets != 67 || e.counters.ReplayDropped != 2 ||
				!e.counters.Added.Equal(time.Unix(1700000000, 0)) || !e.counters.LastUsed.IsZero() {
				t.Errorf("counters %+v", e.counters)
			}
		})
	}
}

func TestParseRejectsShortInput(t *testing.T) {
	full := stateMsg(hostA, hostB, 0xc0000001, testReqid)
	for _, n := range []int{0, 10, sizeofUsersaInfo - 1} {
		if _, err := parseState(full[:n]); err == nil {
			t.Errorf("parseState accepted %d bytes", n)
		}
	}
	// An algorithm attribute whose key length overruns the attribute.
	bad := append([]byte(nil), full[:sizeofUsersaInfo]...)
	algo := make([]byte, nl.SizeofXfrmAlgo)
	nl.NativeEndian().PutUint32(algo[64:68], 4096)
	bad = append(bad, attr(nl.XFRMA_ALG_CRYPT, algo)...)
	if _, err := parseState(bad); err == nil {
		t.Error("parseState accepted a key overrunning its attribute")
	}
	if _, err := parseAcquire(make([]byte, sizeofUserAcquire-1)); err == nil {
		t.Error("parseAcquire accepted a short message")
	}
	if _, _, _, err := parseExpire(make([]byte, sizeofUserExpire-1)); err == nil {
		t.Error("parseExpire accepted a short message")
	}
}

func expireMsg(hard bool, proto uint8) []byte {
	var msg xfrmUserExpire
	info := &msg.State
	info.Family, info.Reqid = unix.AF_INET6, testReqid
	info.ID.Daddr, info.Saddr = xfrmAddr(peer6), xfrmAddr(host6)
	info.ID.Spi, info.ID.Proto = nl.Swap32(0xc0000042), proto
	if hard {
		msg.Hard = 1
	}
	b := append([]byte(nil), structBytes(&msg)...)
	return append(b, attr(nl.XFRMA_MARK, (&nl.XfrmMark{Value: 1, Mask: 0xffffffff}).Serialize())...)
}

func TestDecodeExpire(t *testing.T) {
	tests := []struct {
		name  string
		hard  bool
		proto uint8
		want  EventKind
	}{
		{"soft ESP", false, unix.IPPROTO_ESP, EventSoftExpire},
		{"hard ESP", true, unix.IPPROTO_ESP, EventHardExpire},
		{"AH is not ours", true, unix.IPPROTO_AH, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := decodeEvent(nl.XFRM_MSG_EXPIRE, expireMsg(tt.hard, tt.proto))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.want {
				t.Fatalf("kind %s, want %s", ev.Kind, tt.want)
			}
			want := Expire{SA: SAID{Dst: peer6, SPI: 0xc0000042, Mark: Mark{Value: 1, Mask: 0xffffffff}}, Src: host6, Reqid: testReqid}
			if tt.want != 0 && ev.Expire != want {
				t.Errorf("expire %+v, want %+v", ev.Expire, want)
			}
		})
	}
}

func acquireMsg() []byte {
	var msg xfrmUserAcquire
	msg.ID.Daddr, msg.ID.Proto = xfrmAddr(peer6), unix.IPPROTO_ESP
	msg.Saddr = xfrmAddr(host6)
	sel := &msg.Sel
	sel.Family, sel.Daddr, sel.Saddr, sel.PrefixlenD, sel.PrefixlenS = unix.AF_INET6, xfrmAddr(peer6), xfrmAddr(host6), 128, 128
	sel.Proto, sel.Dport, sel.DportMask = unix.IPPROTO_TCP, nl.Swap16(22), 0xffff
	msg.Policy.Sel, msg.Policy.Dir, msg.Policy.Priority = *sel, uint8(DirOut), 1234
	t := nl.XfrmUserTmpl{Family: unix.AF_INET6, Reqid: testReqid, Mode: 0}
	b := append([]byte(nil), structBytes(&msg)...)
	return append(b, attr(nl.XFRMA_TMPL, structBytes(&t))...)
}

func TestDecodeAcquire(t *testing.T) {
	ev, err := decodeEvent(nl.XFRM_MSG_ACQUIRE, acquireMsg())
	if err != nil {
		t.Fatal(err)
	}
	a := ev.Acquire
	if ev.Kind != EventAcquire || a.Reqid != testReqid || a.Src != host6 || a.Dst != peer6 || a.Priority != 1234 || a.Dir != DirOut ||
		a.Flow.Dst != hostPrefix(peer6) || a.Flow.Proto != unix.IPPROTO_TCP || a.Flow.DstPort != 22 {
		t.Errorf("acquire %+v", ev)
	}
	noTmpl := acquireMsg()[:sizeofUserAcquire]
	if _, err := decodeEvent(nl.XFRM_MSG_ACQUIRE, noTmpl); err == nil {
		t.Error("acquire without template accepted")
	}
}

// FuzzDecodeEvent: kernel messages are trusted, but a decoder that indexes
// blindly would turn any kernel/ABI surprise into a daemon crash.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(uint16(nl.XFRM_MSG_ACQUIRE), acquireMsg())
	f.Add(uint16(nl.XFRM_MSG_EXPIRE), expireMsg(true, unix.IPPROTO_ESP))
	f.Add(uint16(nl.XFRM_MSG_NEWSA), stateMsg(host6, peer6, 0xc0000001, testReqid))
	f.Add(uint16(nl.XFRM_MSG_NEWPOLICY), make([]byte, sizeofUserpolicyInfo+8))
	f.Fuzz(func(t *testing.T, typ uint16, data []byte) {
		_, _ = decodeEvent(typ, data)
		_, _ = parseState(data)
		_, _ = parsePolicy(data)
	})
}
