package kernel

import (
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// payload is a request's bytes after the netlink header, as the kernel
// hands them to the XFRM handler.
func payload(t *testing.T, req *nl.NetlinkRequest, wantType uint16) []byte {
	t.Helper()
	b := req.Serialize()
	if req.Type != wantType || int(nl.NativeEndian().Uint32(b[0:4])) != len(b) {
		t.Fatalf("request type %d length field %d for %d bytes", req.Type, nl.NativeEndian().Uint32(b[0:4]), len(b))
	}
	return b[unix.SizeofNlMsghdr:]
}

// firstAttrAt reports the type of the attribute at off: the kernel expects
// the first one right after the fixed header (nlmsg_parse with the
// header's size for this arch), so anything else here means it would find
// the wrong bytes, as on the 386 boards with netlink's headers.
func firstAttrAt(t *testing.T, b []byte, off int) uint16 {
	t.Helper()
	attrs, err := parseAttrs(b[off:])
	if err != nil || len(attrs) == 0 {
		t.Fatalf("no attributes at offset %d: %v", off, err)
	}
	return attrs[0].typ
}

func TestSARequestRoundTrip(t *testing.T) {
	gcm := func(sa SA) SA {
		sa.Encryption, sa.EncryptionKey, sa.Integrity, sa.IntegrityKey = EncrAESGCM16, key(20, 4), IntegNone, nil
		sa.ESN, sa.ReplayWindow = true, 1024
		sa.Mark = Mark{Value: 0x42, Mask: 0xff}
		return sa
	}
	natt := func(sa SA) SA {
		sa.Encryption, sa.EncryptionKey, sa.Integrity, sa.IntegrityKey = EncrChaCha20Poly1305, key(36, 5), IntegNone, nil
		sa.Encap = &UDPEncap{SrcPort: 4500, DstPort: 4501}
		sa.Mode = ModeTunnel
		return sa
	}
	tests := []struct {
		name      string
		msgType   int
		sa        SA
		firstAttr uint16
	}{
		{"new cbc ipv4", nl.XFRM_MSG_NEWSA, cbcSA(hostA, hostB, 0xc0000101, testReqid, 1), nl.XFRMA_ALG_AUTH_TRUNC},
		{"update gcm esn mark ipv6", nl.XFRM_MSG_UPDSA, gcm(cbcSA(host6, peer6, 0xc0000102, testReqid, 2)), nl.XFRMA_ALG_AEAD},
		{"new chacha natt tunnel", nl.XFRM_MSG_NEWSA, natt(cbcSA(hostB, hostA, 0xfffffff0, 0x80000001, 3)), nl.XFRMA_ALG_AEAD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := normalizeSA(tt.sa)
			if err != nil {
				t.Fatal(err)
			}
			b := payload(t, saRequest(tt.msgType, want), uint16(tt.msgType))
			if got := firstAttrAt(t, b, sizeofUsersaInfo); got != tt.firstAttr {
				t.Errorf("first attribute %d, want %d", got, tt.firstAttr)
			}
			e, err := parseState(b)
			if err != nil {
				t.Fatal(err)
			}
			if e.larval || e.proto != unix.IPPROTO_ESP {
				t.Errorf("larval %v proto %d", e.larval, e.proto)
			}
			if d := diffSAFull(want, e.sa); d != saSame {
				t.Errorf("decoded %+v\nsent    %+v", e.sa, want)
			}
		})
	}
}

func TestPolicyRequestRoundTrip(t *testing.T) {
	v4, v6, bare := testPolicySets()
	for _, p := range merge(v4, v6, bare).Policies {
		t.Run(p.String(), func(t *testing.T) {
			p, err := normalizePolicy(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range []int{nl.XFRM_MSG_NEWPOLICY, nl.XFRM_MSG_UPDPOLICY} {
				b := payload(t, policyRequest(typ, p), uint16(typ))
				if p.Template != nil {
					if got := firstAttrAt(t, b, sizeofUserpolicyInfo); got != nl.XFRMA_TMPL {
						t.Errorf("first attribute %d, want XFRMA_TMPL", got)
					}
				}
				e, err := parsePolicy(b)
				if err != nil {
					t.Fatal(err)
				}
				if !samePolicyContent(p, e.policy) || e.policy.ID() != p.ID() || e.templates != min(1, countTemplate(p)) {
					t.Errorf("decoded %+v, sent %+v", e.policy, p)
				}
			}
		})
	}
}

func countTemplate(p Policy) int {
	if p.Template == nil {
		return 0
	}
	return 1
}

func TestAllocSPIRequestLayout(t *testing.T) {
	b := payload(t, allocSPIRequest(hostB, hostA, testReqid, spiMin, spiMax), nl.XFRM_MSG_ALLOCSPI)
	if len(b) != sizeofUserSpiInfo {
		t.Fatalf("ALLOCSPI payload %d bytes, want %d", len(b), sizeofUserSpiInfo)
	}
	// min and max follow the usersa_info directly: at 220 on i386, 224 on x86-64.
	ne := nl.NativeEndian()
	if lo, hi := ne.Uint32(b[sizeofUsersaInfo:]), ne.Uint32(b[sizeofUsersaInfo+4:]); lo != spiMin || hi != spiMax {
		t.Errorf("min/max at %d: 0x%x 0x%x", sizeofUsersaInfo, lo, hi)
	}
	e, err := parseState(b[:sizeofUsersaInfo])
	if err != nil {
		t.Fatal(err)
	}
	if e.sa.Src != hostB || e.sa.Dst != hostA || e.sa.Reqid != testReqid || e.proto != unix.IPPROTO_ESP || !e.larval {
		t.Errorf("decoded %+v", e)
	}
}

func TestDeleteRequests(t *testing.T) {
	id := SAID{Dst: hostA, SPI: 0xc0000101, Mark: Mark{Value: 7}}
	b := payload(t, deleteSARequest(id, hostB), nl.XFRM_MSG_DELSA)
	msg, ok := readStruct[nl.XfrmUsersaId](b)
	if !ok || msg.Family != unix.AF_INET || nl.Swap32(msg.Spi) != id.SPI || addrFrom(&msg.Daddr, msg.Family) != hostA {
		t.Fatalf("usersa_id %+v", msg)
	}
	attrs, err := parseAttrs(b[nl.SizeofXfrmUsersaId:])
	if err != nil || len(attrs) != 2 {
		t.Fatalf("attributes %v: %v", attrs, err)
	}
	if m := markFrom(attrs[0].value); attrs[0].typ != nl.XFRMA_MARK || m != (Mark{Value: 7, Mask: ^uint32(0)}) {
		t.Errorf("mark attribute %d %+v", attrs[0].typ, m)
	}
	// XFRMA_SRCADDR is an xfrm_address_t: an IPv4 address is its first 4
	// bytes (not a v4-mapped IPv6 address, which would match nothing).
	var src nl.XfrmAddress
	copy(src[:], attrs[1].value)
	if attrs[1].typ != nl.XFRMA_SRCADDR || len(attrs[1].value) != 16 || addrFrom(&src, unix.AF_INET) != hostB || src[4] != 0 {
		t.Errorf("srcaddr attribute %d % x", attrs[1].typ, attrs[1].value)
	}

	p := transportPolicies(hostA, hostB, testReqid)[0]
	b = payload(t, deletePolicyRequest(p), nl.XFRM_MSG_DELPOLICY)
	pid, ok := readStruct[nl.XfrmUserpolicyId](b)
	if !ok || Direction(pid.Dir) != p.Dir || selectorFrom(&pid.Sel) != p.Selector || len(b) != nl.SizeofXfrmUserpolicyId {
		t.Errorf("userpolicy_id %+v, %d bytes", pid, len(b))
	}
}
