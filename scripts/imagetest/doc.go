// Package imagetest checks the built firmware: it boots the CF images in
// QEMU through their bootloader, inspects the kernel config and
// disassembles the shipped busybox. It needs the output of
// `go run ./image -board alix,wrap,qemu`; `make test` builds that and sets
// ALIXSEC_OUT to its directory. Without ALIXSEC_OUT the tests are skipped
// and say so.
package imagetest
