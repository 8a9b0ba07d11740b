package kernel

// The x86-64 kernel's sizes (u64 aligned to 8), the values of netlink's
// nl.Sizeof* constants. xfrmlayout_linux_check.go fails to compile unless
// the Go structs have exactly these sizes.
const (
	kernelSizeofUsersaInfo     = 0xe0
	kernelSizeofUserSpiInfo    = 0xe8
	kernelSizeofUserpolicyInfo = 0xa8
	kernelSizeofUserExpire     = 0xe8
	kernelSizeofUserAcquire    = 0x118
	kernelSizeofUserPolexpire  = 0xb0
)
