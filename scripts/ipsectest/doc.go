// Package ipsectest proves IPsec between booted firmware images in QEMU:
// two boards on a virtual link, configured only through the console CLI,
// negotiate ESP (transport and tunnel mode, IPv4 and IPv6 outer addresses)
// and ping each other, while a capture of the link shows only ESP between
// them; and one board against strongSwan's charon on the host through a
// tap device (kernel-libipsec, tunnel mode, NAT-T).
//
// The tests need root and the built images: `make test` sets ALIXSEC_OUT
// to the output directory (out/qemu.img). Without either they are skipped.
//
// The package's only non-test code is a small pcap reader (pcap.go) that
// classifies the frames between two hosts, for the capture QEMU's
// filter-dump writes.
package ipsectest
