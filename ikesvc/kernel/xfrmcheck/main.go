// Command xfrmcheck installs a fixed pair of ESP SAs and their policies
// through ikesvc's netlink XFRM backend, reconciles the same set a second
// time (which must change nothing), lists it back, checks counters, and
// removes it again. It is meant for a QEMU guest running our kernel, where
// ESP exists (the build host has none). Success prints
//
//	xfrmcheck: ok N states M policies
//
// and exits 0; anything else prints "xfrmcheck: FAIL: ..." and exits 1.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"alixsec.dev/ikesvc/kernel"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "xfrmcheck: FAIL: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("xfrmcheck", flag.ContinueOnError)
	suite := fs.String("suite", "cbc", "ESP suite: cbc (aes128-cbc + hmac-sha2-256-128), gcm (aes128-gcm16), chacha (chacha20-poly1305)")
	ipv6 := fs.Bool("6", false, "also install an IPv6 pair (needs CONFIG_INET6_ESP)")
	natt := fs.Bool("natt", false, "use ESP-in-UDP encapsulation on port 4500")
	keep := fs.Bool("keep", false, "leave the entries installed instead of removing them")
	timeout := fs.Duration("timeout", 30*time.Second, "overall time limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set, err := checkSet(*suite, *ipv6, *natt)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	b, err := kernel.NewNetlink(kernel.NetlinkConfig{})
	if err != nil {
		return err
	}
	defer b.Close()
	sas, policies, err := kernel.SelfCheck(ctx, b, set)
	if err != nil {
		return err
	}
	if !*keep {
		if _, err := b.Apply(ctx, kernel.Set{}); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		left, err := b.List(ctx)
		if err != nil {
			return fmt.Errorf("list after cleanup: %w", err)
		}
		if len(left.SAs)+len(left.Policies) != 0 {
			return fmt.Errorf("cleanup left %d SAs and %d policies", len(left.SAs), len(left.Policies))
		}
	}
	fmt.Fprintf(stdout, "xfrmcheck: ok %d states %d policies\n", sas, policies)
	return nil
}

const reqid = 0x0a15c000 // inside kernel.DefaultOwnership's range

// checkSet builds the fixed set: per address family, an outbound and an
// inbound transport SA between two documentation addresses plus their
// out/in policies. Keys are fixed patterns: this is a plumbing check.
func checkSet(suite string, ipv6, natt bool) (kernel.Set, error) {
	var set kernel.Set
	pairs := [][2]netip.Addr{{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}}
	if ipv6 {
		pairs = append(pairs, [2]netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")})
	}
	for i, p := range pairs {
		id := reqid + uint32(i)
		for dir, ends := range [][2]netip.Addr{{p[0], p[1]}, {p[1], p[0]}} {
			sa := kernel.SA{
				Src: ends[0], Dst: ends[1], SPI: 0xc0de0000 + uint32(i)*16 + uint32(dir), Reqid: id,
				Mode: kernel.ModeTransport, ReplayWindow: 32,
				Lifetime: kernel.Lifetime{SoftTime: 50 * time.Minute, HardTime: time.Hour},
			}
			switch suite {
			case "cbc":
				sa.Encryption, sa.EncryptionKey = kernel.EncrAESCBC, bytes.Repeat([]byte{0x11 + byte(dir)}, 16)
				sa.Integrity, sa.IntegrityKey = kernel.IntegHMACSHA2_256128, bytes.Repeat([]byte{0x22 + byte(dir)}, 32)
			case "gcm":
				sa.Encryption, sa.EncryptionKey = kernel.EncrAESGCM16, bytes.Repeat([]byte{0x33 + byte(dir)}, 16+4)
			case "chacha":
				sa.Encryption, sa.EncryptionKey = kernel.EncrChaCha20Poly1305, bytes.Repeat([]byte{0x44 + byte(dir)}, 32+4)
			default:
				return kernel.Set{}, fmt.Errorf("unknown suite %q (want cbc, gcm or chacha)", suite)
			}
			if natt {
				sa.Encap = &kernel.UDPEncap{SrcPort: 4500, DstPort: 4500}
			}
			set.SAs = append(set.SAs, sa)
		}
		tmpl := &kernel.Template{Mode: kernel.ModeTransport, Reqid: id}
		host := func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
		set.Policies = append(set.Policies,
			kernel.Policy{Selector: kernel.Selector{Src: host(p[0]), Dst: host(p[1])}, Dir: kernel.DirOut, Priority: 1000, Template: tmpl},
			kernel.Policy{Selector: kernel.Selector{Src: host(p[1]), Dst: host(p[0])}, Dir: kernel.DirIn, Priority: 1000, Template: tmpl},
		)
	}
	return set, nil
}
