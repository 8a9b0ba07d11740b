//go:build linux && (386 || amd64)

package kernel

// Compile-time proof that the Go structs have the kernel's sizes for this
// GOARCH: a difference in either direction is a negative untyped constant
// converted to uint, which does not compile. On other arches the structs
// still follow the C layout rules, only unpinned.
const (
	_ = uint(sizeofUsersaInfo-kernelSizeofUsersaInfo) + uint(kernelSizeofUsersaInfo-sizeofUsersaInfo)
	_ = uint(sizeofUserSpiInfo-kernelSizeofUserSpiInfo) + uint(kernelSizeofUserSpiInfo-sizeofUserSpiInfo)
	_ = uint(sizeofUserpolicyInfo-kernelSizeofUserpolicyInfo) + uint(kernelSizeofUserpolicyInfo-sizeofUserpolicyInfo)
	_ = uint(sizeofUserExpire-kernelSizeofUserExpire) + uint(kernelSizeofUserExpire-sizeofUserExpire)
	_ = uint(sizeofUserAcquire-kernelSizeofUserAcquire) + uint(kernelSizeofUserAcquire-sizeofUserAcquire)
	_ = uint(sizeofUserPolexpire-kernelSizeofUserPolexpire) + uint(kernelSizeofUserPolexpire-sizeofUserPolexpire)
)
