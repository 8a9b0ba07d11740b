package kernel

// The i386 kernel's sizes of the structures of include/uapi/linux/xfrm.h
// (the i386 ABI aligns u64 to 4, so the tail padding is 4 bytes shorter than
// on x86-64). xfrmlayout_linux_check.go fails to compile unless the Go
// structs have exactly these sizes, so `GOARCH=386 go build` proves the 386
// layout on any host.
const (
	kernelSizeofUsersaInfo     = 220
	kernelSizeofUserSpiInfo    = 228
	kernelSizeofUserpolicyInfo = 164
	kernelSizeofUserExpire     = 224
	kernelSizeofUserAcquire    = 276
	kernelSizeofUserPolexpire  = 168
)
