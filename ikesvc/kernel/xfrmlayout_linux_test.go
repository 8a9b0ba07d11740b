package kernel

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/vishvananda/netlink/nl"
)

// cType is a C type in the layout model: a scalar (size = align), an array,
// or a struct of named fields laid out by the C rules (each field at the
// next multiple of its alignment, the size rounded up to the largest).
type cType struct {
	scalar int // 1, 2, 4 or 8 bytes; 0 for a struct
	count  int // array length; 0 or 1 for one
	fields []cField
}

type cField struct {
	name string
	typ  cType
}

var (
	cU8, cU16, cU32, cU64 = cType{scalar: 1}, cType{scalar: 2}, cType{scalar: 4}, cType{scalar: 8}
)

func cArray(t cType, n int) cType { t.count = n; return t }
func cStruct(f ...cField) cType   { return cType{fields: f} }

// cLayout computes size and alignment of t, and the offset of every field
// (dotted path, e.g. "info.lft"), for an ABI aligning u64 to u64Align: 8 on
// x86-64, 4 on i386. Everything else aligns to its size on both.
func cLayout(t cType, u64Align int) (size, align int, offsets map[string]int) {
	offsets = map[string]int{}
	size, align = layoutInto(t, u64Align, "", 0, offsets)
	return size, align, offsets
}

func layoutInto(t cType, u64Align int, prefix string, base int, offsets map[string]int) (size, align int) {
	n := max(t.count, 1)
	if t.scalar != 0 {
		align = t.scalar
		if t.scalar == 8 {
			align = u64Align
		}
		return t.scalar * n, align
	}
	off, align := 0, 1
	for _, f := range t.fields {
		_, fa := layoutInto(f.typ, u64Align, "", 0, map[string]int{}) // alignment first
		off = roundUp(off, fa)
		fs, _ := layoutInto(f.typ, u64Align, prefix+f.name+".", base+off, offsets)
		offsets[prefix+f.name] = base + off
		off += fs
		align = max(align, fa)
	}
	return roundUp(off, align) * n, align
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }

// The structures of include/uapi/linux/xfrm.h, transcribed field by field
// from the header (not from the Go structs under test).
var (
	cAddress  = cArray(cU32, 4) // xfrm_address_t: union of __be32 a4, a6[4], in6_addr
	cSelector = cStruct(
		cField{"daddr", cAddress}, cField{"saddr", cAddress},
		cField{"dport", cU16}, cField{"dport_mask", cU16}, cField{"sport", cU16}, cField{"sport_mask", cU16},
		cField{"family", cU16}, cField{"prefixlen_d", cU8}, cField{"prefixlen_s", cU8}, cField{"proto", cU8},
		cField{"ifindex", cU32}, cField{"user", cU32})
	cID          = cStruct(cField{"daddr", cAddress}, cField{"spi", cU32}, cField{"proto", cU8})
	cLifetimeCfg = cStruct(
		cField{"soft_byte_limit", cU64}, cField{"hard_byte_limit", cU64},
		cField{"soft_packet_limit", cU64}, cField{"hard_packet_limit", cU64},
		cField{"soft_add_expires_seconds", cU64}, cField{"hard_add_expires_seconds", cU64},
		cField{"soft_use_expires_seconds", cU64}, cField{"hard_use_expires_seconds", cU64})
	cLifetimeCur = cStruct(cField{"bytes", cU64}, cField{"packets", cU64}, cField{"add_time", cU64}, cField{"use_time", cU64})
	cStats       = cStruct(cField{"replay_window", cU32}, cField{"replay", cU32}, cField{"integrity_failed", cU32})
	cUsersaInfo  = cStruct(
		cField{"sel", cSelector}, cField{"id", cID}, cField{"saddr", cAddress},
		cField{"lft", cLifetimeCfg}, cField{"curlft", cLifetimeCur}, cField{"stats", cStats},
		cField{"seq", cU32}, cField{"reqid", cU32}, cField{"family", cU16},
		cField{"mode", cU8}, cField{"replay_window", cU8}, cField{"flags", cU8})
	cUserSpiInfo    = cStruct(cField{"info", cUsersaInfo}, cField{"min", cU32}, cField{"max", cU32})
	cUserpolicyInfo = cStruct(
		cField{"sel", cSelector}, cField{"lft", cLifetimeCfg}, cField{"curlft", cLifetimeCur},
		cField{"priority", cU32}, cField{"index", cU32},
		cField{"dir", cU8}, cField{"action", cU8}, cField{"flags", cU8}, cField{"share", cU8})
	cUserExpire  = cStruct(cField{"state", cUsersaInfo}, cField{"hard", cU8})
	cUserAcquire = cStruct(
		cField{"id", cID}, cField{"saddr", cAddress}, cField{"sel", cSelector}, cField{"policy", cUserpolicyInfo},
		cField{"aalgos", cU32}, cField{"ealgos", cU32}, cField{"calgos", cU32}, cField{"seq", cU32})
	cUserPolexpire = cStruct(cField{"pol", cUserpolicyInfo}, cField{"hard", cU8})
	cUserTmpl      = cStruct(
		cField{"id", cID}, cField{"family", cU16}, cField{"saddr", cAddress}, cField{"reqid", cU32},
		cField{"mode", cU8}, cField{"share", cU8}, cField{"optional", cU8},
		cField{"aalgos", cU32}, cField{"ealgos", cU32}, cField{"calgos", cU32})
	cUsersaID      = cStruct(cField{"daddr", cAddress}, cField{"spi", cU32}, cField{"family", cU16}, cField{"proto", cU8})
	cUserpolicyID  = cStruct(cField{"sel", cSelector}, cField{"index", cU32}, cField{"dir", cU8})
	cEncapTmpl     = cStruct(cField{"encap_type", cU16}, cField{"encap_sport", cU16}, cField{"encap_dport", cU16}, cField{"encap_oa", cAddress})
	cMark          = cStruct(cField{"v", cU32}, cField{"m", cU32})
	cu64AlignAmd64 = 8
	cu64Align386   = 4
)

// kernelLayouts are the kernel's sizes and the offsets that differ between
// the arches, per ABI: amd64 as netlink's x86-64 constants state them, 386
// as the i386 kernel lays them out.
var kernelLayouts = []struct {
	name        string
	typ         cType
	amd64, i386 int
	offsets     map[string][2]int // field -> {amd64, 386}
}{
	{"xfrm_usersa_info", cUsersaInfo, nl.SizeofXfrmUsersaInfo, 220, map[string][2]int{"lft": {96, 96}, "reqid": {208, 208}, "flags": {216, 216}}},
	{"xfrm_userspi_info", cUserSpiInfo, nl.SizeofXfrmUserSpiInfo, 228, map[string][2]int{"min": {224, 220}, "max": {228, 224}}},
	{"xfrm_userpolicy_info", cUserpolicyInfo, nl.SizeofXfrmUserpolicyInfo, 164, map[string][2]int{"priority": {152, 152}, "dir": {160, 160}, "share": {163, 163}}},
	{"xfrm_user_expire", cUserExpire, nl.SizeofXfrmUserExpire, 224, map[string][2]int{"hard": {224, 220}}},
	{"xfrm_user_acquire", cUserAcquire, 280, 276, map[string][2]int{"policy": {96, 96}, "aalgos": {264, 260}, "seq": {276, 272}}},
	{"xfrm_user_polexpire", cUserPolexpire, 176, 168, map[string][2]int{"hard": {168, 164}}},
	{"xfrm_user_tmpl", cUserTmpl, nl.SizeofXfrmUserTmpl, nl.SizeofXfrmUserTmpl, nil},
	{"xfrm_usersa_id", cUsersaID, nl.SizeofXfrmUsersaId, nl.SizeofXfrmUsersaId, nil},
	{"xfrm_userpolicy_id", cUserpolicyID, nl.SizeofXfrmUserpolicyId, nl.SizeofXfrmUserpolicyId, nil},
	{"xfrm_selector", cSelector, nl.SizeofXfrmSelector, nl.SizeofXfrmSelector, nil},
	{"xfrm_encap_tmpl", cEncapTmpl, nl.SizeofXfrmEncapTmpl, nl.SizeofXfrmEncapTmpl, nil},
	{"xfrm_mark", cMark, nl.SizeofXfrmMark, nl.SizeofXfrmMark, nil},
}

// TestKernelLayoutModel runs the 386 arithmetic on any host: the model with
// 4-byte u64 alignment must give the i386 kernel's sizes and offsets, and
// with 8-byte alignment netlink's x86-64 ones.
func TestKernelLayoutModel(t *testing.T) {
	for _, tt := range kernelLayouts {
		t.Run(tt.name, func(t *testing.T) {
			for i, abi := range []struct {
				name  string
				align int
				size  int
			}{{"amd64", cu64AlignAmd64, tt.amd64}, {"386", cu64Align386, tt.i386}} {
				size, _, offs := cLayout(tt.typ, abi.align)
				if size != abi.size {
					t.Errorf("%s: model size %d, kernel %d", abi.name, size, abi.size)
				}
				for f, want := range tt.offsets {
					if got, ok := offs[f]; !ok || got != want[i] {
						t.Errorf("%s: model offset of %s %d (present %v), kernel %d", abi.name, f, got, ok, want[i])
					}
				}
			}
		})
	}
}

// TestGoStructsFollowKernelLayout checks every Go struct sent or parsed
// against the model for the running GOARCH, field offset by field offset,
// and the size constants the code uses against the kernel's. Under
// GOARCH=386 this is the i386 check (xfrmlayout_linux_check.go already
// refuses to compile a wrong size there).
func TestGoStructsFollowKernelLayout(t *testing.T) {
	align := int(unsafe.Alignof(uint64(0)))
	tests := []struct {
		name   string
		goType reflect.Type
		c      cType
		size   int // the constant the code uses
		kernel int // the kernel's for this GOARCH
	}{
		{"xfrm_usersa_info", reflect.TypeFor[xfrmUsersaInfo](), cUsersaInfo, sizeofUsersaInfo, kernelSizeofUsersaInfo},
		{"xfrm_userspi_info", reflect.TypeFor[xfrmUserSpiInfo](), cUserSpiInfo, sizeofUserSpiInfo, kernelSizeofUserSpiInfo},
		{"xfrm_userpolicy_info", reflect.TypeFor[xfrmUserpolicyInfo](), cUserpolicyInfo, sizeofUserpolicyInfo, kernelSizeofUserpolicyInfo},
		{"xfrm_user_expire", reflect.TypeFor[xfrmUserExpire](), cUserExpire, sizeofUserExpire, kernelSizeofUserExpire},
		{"xfrm_user_acquire", reflect.TypeFor[xfrmUserAcquire](), cUserAcquire, sizeofUserAcquire, kernelSizeofUserAcquire},
		{"xfrm_user_polexpire", reflect.TypeFor[xfrmUserPolexpire](), cUserPolexpire, sizeofUserPolexpire, kernelSizeofUserPolexpire},
		{"xfrm_user_tmpl", reflect.TypeFor[nl.XfrmUserTmpl](), cUserTmpl, nl.SizeofXfrmUserTmpl, nl.SizeofXfrmUserTmpl},
		{"xfrm_usersa_id", reflect.TypeFor[nl.XfrmUsersaId](), cUsersaID, nl.SizeofXfrmUsersaId, nl.SizeofXfrmUsersaId},
		{"xfrm_userpolicy_id", reflect.TypeFor[nl.XfrmUserpolicyId](), cUserpolicyID, nl.SizeofXfrmUserpolicyId, nl.SizeofXfrmUserpolicyId},
		{"xfrm_selector", reflect.TypeFor[nl.XfrmSelector](), cSelector, nl.SizeofXfrmSelector, nl.SizeofXfrmSelector},
		{"xfrm_encap_tmpl", reflect.TypeFor[nl.XfrmEncapTmpl](), cEncapTmpl, nl.SizeofXfrmEncapTmpl, nl.SizeofXfrmEncapTmpl},
		{"xfrm_mark", reflect.TypeFor[nl.XfrmMark](), cMark, nl.SizeofXfrmMark, nl.SizeofXfrmMark},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, _, offs := cLayout(tt.c, align)
			if int(tt.goType.Size()) != size || tt.size != size || tt.kernel != size {
				t.Errorf("Go size %d, constant %d, kernel %d, model %d", tt.goType.Size(), tt.size, tt.kernel, size)
			}
			// The Go fields, in order, must sit where the C fields do
			// (nl's explicit Pad fields are skipped: they fill C's holes).
			goOffs := fieldOffsets(tt.goType, "", 0)
			cOrder := cFieldOrder(tt.c, "")
			if len(goOffs) != len(cOrder) {
				t.Fatalf("Go has %d fields, C %d", len(goOffs), len(cOrder))
			}
			for i, f := range cOrder {
				if goOffs[i] != offs[f] {
					t.Errorf("field %s (Go #%d): Go offset %d, C %d", f, i, goOffs[i], offs[f])
				}
			}
		})
	}
}

// fieldOffsets lists the offsets of the leaf fields of a Go struct in order,
// without nl's Pad fields; arrays of scalars are leaves.
func fieldOffsets(t reflect.Type, _ string, base int) []int {
	var out []int
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.HasPrefix(f.Name, "Pad") {
			continue
		}
		off := base + int(f.Offset)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, fieldOffsets(f.Type, "", off)...)
			continue
		}
		out = append(out, off)
	}
	return out
}

// cFieldOrder lists the dotted names of the leaf fields of a C struct.
func cFieldOrder(t cType, prefix string) []string {
	var out []string
	for _, f := range t.fields {
		if f.typ.scalar == 0 {
			out = append(out, cFieldOrder(f.typ, prefix+f.name+".")...)
			continue
		}
		out = append(out, prefix+f.name)
	}
	return out
}
