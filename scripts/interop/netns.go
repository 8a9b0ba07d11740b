package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nsPrefix starts the name of every network namespace this harness makes.
// The name goes on with the creating process's PID, so a later run can tell
// the leftovers of a crashed run (PID gone) from a concurrent run's.
const nsPrefix = "aix"

// LinkName is the name of the veth end inside each node's namespace. Every
// node has its own namespace, so the names never collide.
const LinkName = "v0"

// cmdTimeout bounds every helper command (ip, nsenter, swanctl).
const cmdTimeout = 30 * time.Second

// Node is one end of a Pair: a network namespace holding one veth end with
// an IPv4 and an IPv6 address. Nothing of it is visible outside its
// namespace.
type Node struct {
	Name string     // role, e.g. "moon"; used in file names and messages
	NS   string     // network namespace name (ip netns)
	IPv4 netip.Addr // on LinkName, /24
	IPv6 netip.Addr // on LinkName, /64, no DAD
}

// Addr returns the node's IPv4 or IPv6 address.
func (n *Node) Addr(ipv6 bool) netip.Addr {
	if ipv6 {
		return n.IPv6
	}
	return n.IPv4
}

// Pair is two nodes linked by a veth pair: A has 10.77.0.1/24 and
// fd77::1/64, B has 10.77.0.2/24 and fd77::2/64.
type Pair struct {
	A, B *Node
}

// NewPair creates both namespaces, the veth pair between them and their
// addresses. On error everything created so far is removed again.
func NewPair(ctx context.Context, nameA, nameB string) (*Pair, error) {
	tag, err := runTag()
	if err != nil {
		return nil, err
	}
	p := &Pair{
		A: &Node{Name: nameA, NS: nsPrefix + tag + "a",
			IPv4: netip.MustParseAddr("10.77.0.1"), IPv6: netip.MustParseAddr("fd77::1")},
		B: &Node{Name: nameB, NS: nsPrefix + tag + "b",
			IPv4: netip.MustParseAddr("10.77.0.2"), IPv6: netip.MustParseAddr("fd77::2")},
	}
	if err := p.setUp(ctx); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

func (p *Pair) setUp(ctx context.Context) error {
	for _, n := range []*Node{p.A, p.B} {
		if _, err := run(ctx, "ip", "netns", "add", n.NS); err != nil {
			return err
		}
		if _, err := run(ctx, "ip", "-n", n.NS, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	if _, err := run(ctx, "ip", "-n", p.A.NS, "link", "add", LinkName, "type", "veth",
		"peer", "name", LinkName, "netns", p.B.NS); err != nil {
		return err
	}
	for _, n := range []*Node{p.A, p.B} {
		steps := [][]string{
			{"addr", "add", n.IPv4.String() + "/24", "dev", LinkName},
			// nodad: the address is usable at once, not after ~2 s of DAD.
			{"addr", "add", n.IPv6.String() + "/64", "dev", LinkName, "nodad"},
			{"link", "set", LinkName, "up"},
		}
		for _, s := range steps {
			if _, err := run(ctx, "ip", append([]string{"-n", n.NS}, s...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close deletes both namespaces (which deletes the veth pair) after killing
// any process still inside them. It is safe to call more than once.
func (p *Pair) Close() error {
	var errs []error
	for _, n := range []*Node{p.A, p.B} {
		errs = append(errs, removeNamespace(n.NS))
	}
	return errors.Join(errs...)
}

// runTag makes the per-pair part of the namespace names: our PID and a
// random suffix, so two pairs of one process never clash.
func runTag() (string, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random namespace suffix: %w", err)
	}
	return strconv.Itoa(os.Getpid()) + "x" + hex.EncodeToString(b[:]), nil
}

// removeNamespace kills the processes left in namespace ns (by PID, from
// `ip netns pids`) and deletes it. A namespace that does not exist is not
// an error.
func removeNamespace(ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := os.Stat("/run/netns/" + ns); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := run(ctx, "ip", "netns", "pids", ns); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
		return fmt.Errorf("remove namespace %s: %w", ns, err)
	}
	return nil
}

// CleanLeftovers removes the namespaces (and their processes) that an
// earlier run of this harness left behind when it crashed: those whose
// creating PID no longer exists. It returns the names it removed.
func CleanLeftovers() ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list network namespaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		pid, ok := leftoverPID(e.Name())
		if !ok || processExists(pid) {
			continue
		}
		if err := removeNamespace(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// leftoverPID reads the creator PID out of a namespace name made by runTag.
func leftoverPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, nsPrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "x")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// run runs a helper command and returns its stdout; the error carries the
// command line and stderr.
func run(ctx context.Context, name string, args ...string) (string, error) {
	return runEnv(ctx, nil, name, args...)
}

func runEnv(ctx context.Context, env []string, name string, args ...string) (string, error) {
	return runCmd(ctx, "", env, name, args...)
}

// runCmd runs name with args in dir (empty: ours) with env added to ours.
func runCmd(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s%s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()), tail(stdout.String()))
	}
	return stdout.String(), nil
}

// tail returns the last lines of a command's stdout for an error message
// (swanctl prints its reasons there).
func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "\n" + strings.Join(lines, "\n")
}
