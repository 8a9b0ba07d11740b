package interop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// CrowdLink is the veth end a Crowd adds to the node it is linked to.
const CrowdLink = "c0"

// Crowd is a third namespace holding many IPv4 addresses on one veth,
// linked to a node of a Pair: the sources of a flood. Its addresses are
// 10.79.0.1 on, /16; the node's end (CrowdLink) has Gateway, 10.79.255.254.
type Crowd struct {
	NS      string
	Addrs   []netip.Addr
	Gateway netip.Addr
}

// NewCrowd makes a namespace with n addresses on LinkName, linked to node
// by a veth pair. On error everything made so far is removed again.
func NewCrowd(ctx context.Context, node *Node, n int) (*Crowd, error) {
	if n < 1 || n > 65000 {
		return nil, fmt.Errorf("crowd of %d addresses: want 1 to 65000", n)
	}
	tag, err := runTag()
	if err != nil {
		return nil, err
	}
	c := &Crowd{NS: nsPrefix + tag + "c", Gateway: netip.MustParseAddr("10.79.255.254")}
	for a, i := netip.MustParseAddr("10.79.0.1"), 0; i < n; a, i = a.Next(), i+1 {
		c.Addrs = append(c.Addrs, a)
	}
	if err := c.setUp(ctx, node); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *Crowd) setUp(ctx context.Context, node *Node) error {
	if _, err := run(ctx, "ip", "netns", "add", c.NS); err != nil {
		return err
	}
	if _, err := run(ctx, "ip", "-n", node.NS, "link", "add", CrowdLink, "type", "veth",
		"peer", "name", LinkName, "netns", c.NS); err != nil {
		return err
	}
	for _, s := range [][]string{
		{"-n", node.NS, "addr", "add", c.Gateway.String() + "/16", "dev", CrowdLink},
		{"-n", node.NS, "link", "set", CrowdLink, "up"},
		{"-n", c.NS, "link", "set", "lo", "up"},
		{"-n", c.NS, "link", "set", LinkName, "up"},
	} {
		if _, err := run(ctx, "ip", s...); err != nil {
			return err
		}
	}
	// One `ip -batch` for all addresses: 500 separate ip calls take seconds.
	var batch strings.Builder
	for _, a := range c.Addrs {
		fmt.Fprintf(&batch, "addr add %s/16 dev %s\n", a, LinkName)
	}
	dir, err := os.MkdirTemp("", "crowd")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "addrs")
	if err := os.WriteFile(file, []byte(batch.String()), 0o600); err != nil {
		return err
	}
	_, err = run(ctx, "ip", "-n", c.NS, "-batch", file)
	return err
}

// Close deletes the namespace (and with it the veth pair) after killing
// what still runs inside. It is safe to call more than once.
func (c *Crowd) Close() error { return removeNamespace(c.NS) }
