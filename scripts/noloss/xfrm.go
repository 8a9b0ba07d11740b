package noloss

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// XfrmEntry is one SA or policy of a board's kernel, as the CLI's `show
// ipsec kernel` prints it (iproute2's layout; u-root's `ip xfrm` misreads
// the i386 kernel's messages), reduced to what says whether it belongs:
// addresses, SPI and mode, or direction.
type XfrmEntry struct {
	Src, Dst string
	What     string // "esp spi 0x1234 tunnel" or "dir out tunnel"
}

func (e XfrmEntry) String() string { return e.Src + " -> " + e.Dst + " " + e.What }

var (
	xfrmHead   = regexp.MustCompile(`(?m)^src (\S+) dst (\S+)(.*)$`)
	xfrmSA     = regexp.MustCompile(`proto (\S+) spi (0x[0-9a-f]+)(?: reqid \d+)? mode (\S+)`)
	xfrmDir    = regexp.MustCompile(`(?m)^\s+(dir \S+|\S+) priority`)
	xfrmTmplMd = regexp.MustCompile(`mode (\S+)`)
)

// ParseXfrm reads the entries of `show ipsec kernel`, sorted. Socket
// policies (ikesvc's IKE bypass on its own sockets) are not table
// entries and are left out.
func ParseXfrm(out string) ([]XfrmEntry, error) {
	heads := xfrmHead.FindAllStringSubmatchIndex(out, -1)
	var es []XfrmEntry
	for i, h := range heads {
		end := len(out)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		body := out[h[1]:end]
		e := XfrmEntry{Src: out[h[2]:h[3]], Dst: out[h[4]:h[5]]}
		if rest := strings.TrimSpace(out[h[6]:h[7]]); rest != "" {
			e.Dst += " " + rest // a selector's protocol and ports
		}
		if strings.Contains(body, "\tdir socket ") {
			continue
		}
		if m := xfrmSA.FindStringSubmatch(body); m != nil {
			e.What = m[1] + " spi " + m[2] + " " + m[3]
		} else if m := xfrmDir.FindStringSubmatch(body); m != nil {
			dir := strings.TrimPrefix(m[1], "dir ")
			mode := "none"
			if t := strings.Index(body, "tmpl"); t >= 0 {
				if mm := xfrmTmplMd.FindStringSubmatch(body[t:]); mm != nil {
					mode = mm[1]
				}
			}
			e.What = "dir " + dir + " " + mode
		} else {
			return nil, fmt.Errorf("xfrm entry %s -> %s: neither SA nor policy:\n%s", e.Src, e.Dst, body)
		}
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].String() < es[j].String() })
	return es, nil
}

// DiffXfrm lists what got has that want lacks and the reverse.
func DiffXfrm(got, want []XfrmEntry) []string {
	count := map[string]int{}
	for _, e := range got {
		count[e.String()]++
	}
	for _, e := range want {
		count[e.String()]--
	}
	var diffs []string
	for k, n := range count {
		switch {
		case n > 0:
			diffs = append(diffs, fmt.Sprintf("left over in the kernel (x%d): %s", n, k))
		case n < 0:
			diffs = append(diffs, fmt.Sprintf("missing from the kernel (x%d): %s", -n, k))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// ExpectedXfrm is the kernel state of one established host-to-host
// CHILD_SA between local and remote in mode: the inbound and outbound
// SAs with the SPIs `show ipsec sa` lists, and the policies (in, out, and
// fwd for a tunnel) for the hosts' /32 (or /128) selectors.
func ExpectedXfrm(local, remote, mode, inSPI, outSPI string) (states, policies []XfrmEntry) {
	bits := "/32"
	if strings.Contains(local, ":") {
		bits = "/128"
	}
	states = []XfrmEntry{
		{Src: remote, Dst: local, What: "esp spi 0x" + strings.TrimLeft(inSPI, "0") + " " + mode},
		{Src: local, Dst: remote, What: "esp spi 0x" + strings.TrimLeft(outSPI, "0") + " " + mode},
	}
	policies = []XfrmEntry{
		{Src: local + bits, Dst: remote + bits, What: "dir out " + mode},
		{Src: remote + bits, Dst: local + bits, What: "dir in " + mode},
	}
	if mode == "tunnel" {
		policies = append(policies, XfrmEntry{Src: remote + bits, Dst: local + bits, What: "dir fwd " + mode})
	}
	sort.Slice(states, func(i, j int) bool { return states[i].String() < states[j].String() })
	sort.Slice(policies, func(i, j int) bool { return policies[i].String() < policies[j].String() })
	return states, policies
}
