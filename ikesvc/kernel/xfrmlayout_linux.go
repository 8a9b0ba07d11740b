package kernel

import (
	"unsafe"

	"github.com/vishvananda/netlink/nl"
)

// The fixed headers of XFRM messages, mirroring include/uapi/linux/xfrm.h
// field for field with no hand-added padding, so that Go lays them out as
// the kernel's C compiler does for the same GOARCH. That matters because
// the structures holding a __u64 (xfrm_lifetime_cfg/cur) end with tail
// padding up to the u64 alignment: 8 bytes on x86-64 but 4 on i386, where
// xfrm_usersa_info is 220 bytes, not 224. netlink v1.3.1's nl structs carry
// the x86-64 padding by hand, so on the 386 boards the kernel reads their
// extra bytes as a zero-length attribute and drops every attribute after
// it (algorithms included). The smaller nl structs used as fields here
// (selector, id, address, lifetimes, stats, template, mark, encap) have no
// u64 and the same layout on every arch.
//
// Sizes are taken from unsafe.Sizeof; xfrmlayout_linux_386.go and
// xfrmlayout_linux_amd64.go pin them to the kernel's at compile time.

// xfrmUsersaInfo is struct xfrm_usersa_info (NEWSA, UPDSA, dump entries).
type xfrmUsersaInfo struct {
	Sel          nl.XfrmSelector
	ID           nl.XfrmId
	Saddr        nl.XfrmAddress
	Lft          nl.XfrmLifetimeCfg
	Curlft       nl.XfrmLifetimeCur
	Stats        nl.XfrmStats
	Seq          uint32
	Reqid        uint32
	Family       uint16
	Mode         uint8
	ReplayWindow uint8
	Flags        uint8
}

// xfrmUserSpiInfo is struct xfrm_userspi_info (ALLOCSPI): on i386 Min sits
// at 220, not 224.
type xfrmUserSpiInfo struct {
	Info xfrmUsersaInfo
	Min  uint32
	Max  uint32
}

// xfrmUserpolicyInfo is struct xfrm_userpolicy_info (NEWPOLICY, UPDPOLICY,
// dump entries).
type xfrmUserpolicyInfo struct {
	Sel      nl.XfrmSelector
	Lft      nl.XfrmLifetimeCfg
	Curlft   nl.XfrmLifetimeCur
	Priority uint32
	Index    uint32
	Dir      uint8
	Action   uint8
	Flags    uint8
	Share    uint8
}

// xfrmUserExpire is struct xfrm_user_expire (EXPIRE events).
type xfrmUserExpire struct {
	State xfrmUsersaInfo
	Hard  uint8
}

// xfrmUserAcquire is struct xfrm_user_acquire (ACQUIRE events): the
// trailing u32s move with the size of the embedded policy info.
type xfrmUserAcquire struct {
	ID     nl.XfrmId
	Saddr  nl.XfrmAddress
	Sel    nl.XfrmSelector
	Policy xfrmUserpolicyInfo
	Aalgos uint32
	Ealgos uint32
	Calgos uint32
	Seq    uint32
}

// xfrmUserPolexpire is struct xfrm_user_polexpire (POLEXPIRE events; not
// decoded, listed so its size is pinned with the others).
type xfrmUserPolexpire struct {
	Pol  xfrmUserpolicyInfo
	Hard uint8
}

// Header sizes for the running GOARCH.
const (
	sizeofUsersaInfo     = int(unsafe.Sizeof(xfrmUsersaInfo{}))
	sizeofUserSpiInfo    = int(unsafe.Sizeof(xfrmUserSpiInfo{}))
	sizeofUserpolicyInfo = int(unsafe.Sizeof(xfrmUserpolicyInfo{}))
	sizeofUserExpire     = int(unsafe.Sizeof(xfrmUserExpire{}))
	sizeofUserAcquire    = int(unsafe.Sizeof(xfrmUserAcquire{}))
	sizeofUserPolexpire  = int(unsafe.Sizeof(xfrmUserPolexpire{}))
)

// xfrmStruct lists the fixed-layout types that may be copied as raw bytes
// (every field a fixed-size integer or array of them, native endian as
// netlink wants).
type xfrmStruct interface {
	xfrmUsersaInfo | xfrmUserSpiInfo | xfrmUserpolicyInfo | xfrmUserExpire | xfrmUserAcquire |
		nl.XfrmUsersaId | nl.XfrmUserpolicyId | nl.XfrmUserTmpl | nl.XfrmId | nl.XfrmSelector |
		nl.XfrmAddress | nl.XfrmEncapTmpl | nl.XfrmMark
}

// structBytes is the memory of *v as bytes, exactly unsafe.Sizeof(*v) long.
func structBytes[T xfrmStruct](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// readStruct copies the head of b into a T; false when b is too short.
// Copying (instead of casting b's memory as nl's Deserialize* do) keeps the
// result independent of b and of b's alignment.
func readStruct[T xfrmStruct](b []byte) (T, bool) {
	var v T
	out := structBytes(&v)
	if len(b) < len(out) {
		return v, false
	}
	copy(out, b)
	return v, true
}

// rawData is a preformatted part of a netlink request.
type rawData []byte

func (d rawData) Len() int          { return len(d) }
func (d rawData) Serialize() []byte { return d }
