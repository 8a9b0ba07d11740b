package kernel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// Backend installs ESP SAs and policies. Netlink talks to the kernel of one
// network namespace; Memory keeps everything in process with the same
// semantics. Methods are safe for concurrent use.
type Backend interface {
	// Apply makes the owned kernel entries equal to desired (see Ownership)
	// and reports what it changed. It is idempotent: applying the same set
	// again changes nothing, and stale owned entries (from a previous run)
	// are removed. It tries every operation even after one fails and returns
	// all failures joined, each an *OpError naming the entry.
	Apply(ctx context.Context, desired Set) (Changes, error)
	// List returns the owned entries currently installed (keys included when
	// the kernel reports them; larval SPI reservations left out).
	List(ctx context.Context) (Set, error)
	// Counters returns the traffic statistics of one SA; ErrNotFound if absent.
	Counters(ctx context.Context, id SAID) (Counters, error)
	// AllocSPI reserves a free inbound SPI for an SA from src to dst (dst is
	// this host). The reservation lasts until an Apply installs an SA with
	// that SPI or the kernel expires it (net.core.xfrm_acq_expires, 30 s).
	AllocSPI(ctx context.Context, src, dst netip.Addr, reqid uint32) (uint32, error)
	// DeleteSA removes one SA now (a peer's DELETE, a hard expire). Deleting
	// an absent SA is not an error. Callers drop it from their desired set
	// too, or the next Apply puts it back.
	DeleteSA(ctx context.Context, id SAID) error
	// Events delivers acquires (a trap policy matched a packet) and soft/hard
	// expires of owned SAs until ctx ends; the channel is then closed. Each
	// call opens its own subscription.
	Events(ctx context.Context) (<-chan Event, error)
	// Close releases the backend's sockets. Installed entries stay.
	Close() error
}

// ErrNotFound reports that an SA asked for by ID is not installed.
var ErrNotFound = errors.New("not found")

// OpError is one failed kernel operation during Apply (or DeleteSA).
type OpError struct {
	Op    string // "add", "fill", "update", "replace", "delete"
	Entry string // "SA esp spi ..." or "policy ...": never key bytes
	Err   error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("kernel: %s %s: %v%s", e.Op, e.Entry, e.Err, hint(e.Entry, e.Err))
}

func (e *OpError) Unwrap() error { return e.Err }

// hint explains the errnos seen in practice; the kernel's own text (when
// extended ACK is on) is terse and misses the likely cause.
func hint(entry string, err error) string {
	switch {
	case errors.Is(err, syscall.EPROTONOSUPPORT):
		return " (this kernel has no ESP: needs CONFIG_INET_ESP / CONFIG_INET6_ESP or the esp4/esp6 module)"
	case errors.Is(err, syscall.ENOSYS):
		// Also what a known name gets when the crypto implementation is
		// missing: XFRM probes the crypto API before accepting the name.
		return " (unknown algorithm: XFRM does not know the name or the kernel lacks its crypto, e.g. CONFIG_CRYPTO_GCM, CONFIG_CRYPTO_CHACHA20POLY1305)"
	case errors.Is(err, syscall.ENOENT) && strings.HasPrefix(entry, "SA "):
		return " (the kernel's crypto API lacks this algorithm: check its CONFIG_CRYPTO_* option or module)"
	case errors.Is(err, syscall.EEXIST):
		return " (an entry ikesvc does not own has the same identity)"
	}
	return ""
}

// isGone reports the errnos the kernel uses for "no such SA/policy".
func isGone(err error) bool {
	return errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT)
}

// ops are the primitive operations a backend implements; execute runs a plan
// through them in an order that never leaves traffic unprotected.
type ops interface {
	addSA(SA) error
	updateSA(SA) error // fills a larval reservation or updates lifetime/encap
	deleteSA(SA) error
	addPolicy(Policy) error
	updatePolicy(Policy) error
	deletePolicy(Policy) error
}

// execute applies p: SAs first (so new policies find their SAs), then
// policies, then removal of stale policies before their SAs (a policy whose
// SA vanished first would briefly trigger acquires).
func execute(ctx context.Context, p plan, o ops) (Changes, error) {
	var c Changes
	var errs []error
	fail := func(op, entry string, err error) {
		errs = append(errs, &OpError{Op: op, Entry: entry, Err: err})
	}
	step := func(op string, entry fmt.Stringer, fn func() error, count *int) {
		if err := ctx.Err(); err != nil {
			fail(op, entry.String(), err)
			return
		}
		if err := fn(); err != nil {
			fail(op, entry.String(), err)
			return
		}
		*count++
	}
	for _, sa := range p.addSA {
		step("add", sa, func() error { return o.addSA(sa) }, &c.SAsAdded)
	}
	for _, sa := range p.fillSA {
		step("fill", sa, func() error { return o.updateSA(sa) }, &c.SAsAdded)
	}
	for _, sa := range p.updateSA {
		step("update", sa, func() error {
			err := o.updateSA(sa)
			if isGone(err) { // expired between listing and now
				err = o.addSA(sa)
			}
			return err
		}, &c.SAsUpdated)
	}
	for _, sa := range p.replaceSA {
		// XFRM keeps keys, algorithms, mode and reqid of a valid SA fixed
		// (XFRM_MSG_UPDSA ignores them), so a change means delete + add.
		step("replace", sa, func() error {
			if err := o.deleteSA(sa); err != nil && !isGone(err) {
				return err
			}
			return o.addSA(sa)
		}, &c.SAsReplaced)
	}
	for _, pol := range p.addPolicy {
		step("add", pol, func() error { return o.addPolicy(pol) }, &c.PoliciesAdded)
	}
	for _, pol := range p.updatePolicy {
		// XFRM_MSG_UPDPOLICY swaps a policy atomically: no gap in protection.
		step("update", pol, func() error { return o.updatePolicy(pol) }, &c.PoliciesUpdated)
	}
	for _, pol := range p.deletePolicy {
		step("delete", pol, func() error { return ignoreGone(o.deletePolicy(pol)) }, &c.PoliciesDeleted)
	}
	for _, sa := range p.deleteSA {
		step("delete", sa, func() error { return ignoreGone(o.deleteSA(sa)) }, &c.SAsDeleted)
	}
	return c, errors.Join(errs...)
}

func ignoreGone(err error) error {
	if isGone(err) {
		return nil
	}
	return err
}
