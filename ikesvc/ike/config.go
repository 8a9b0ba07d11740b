package ike

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
)

// Transport sends one IKE message. from is the local address and port the
// datagram must leave from (500 or the NAT-T port); the transport adds the
// non-ESP marker on the NAT-T port. Send must not block and must not call
// back into the Engine: the Engine holds its lock while sending.
type Transport interface {
	Send(packet []byte, from, to netip.AddrPort) error
}

// KeepaliveSender is a Transport that can also send NAT-keepalives (RFC
// 3948 2.3): the single byte 0xFF, with no non-ESP marker, from our NAT-T
// port (from) to the peer's (to). The Engine sends them only through a
// Transport that implements it; like Send, SendKeepalive must not block
// and must not call back into the Engine.
type KeepaliveSender interface {
	SendKeepalive(from, to netip.AddrPort) error
}

// Clock is the time source. Production uses RealClock; tests a fake one
// whose AfterFunc callbacks run when the test advances time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f after d in its own goroutine; stop cancels it and
	// reports whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Logger receives the engine's messages: Errorf for failures an operator
// must see (each names the peer and the reason), Verbosef for the rest.
type Logger struct {
	Verbosef func(format string, args ...any)
	Errorf   func(format string, args ...any)
}

// Credentials are what we authenticate with.
type Credentials struct {
	Key  crypto.Signer
	Cert *x509.Certificate
	// Intermediates are sent after the leaf so peers need only the root.
	Intermediates []*x509.Certificate
	// ID is the default local identity; zero: the certificate's subject DN.
	ID pki.Identity
}

// StartAction says when a peer's SAs come up.
type StartAction int

const (
	StartNone  StartAction = iota // respond only
	StartStart                    // initiate at once and after failures
	StartTrap                     // install trap policies; initiate on the first packet
)

func (a StartAction) String() string {
	switch a {
	case StartNone:
		return "none"
	case StartStart:
		return "start"
	case StartTrap:
		return "trap"
	}
	return fmt.Sprintf("start-action(%d)", int(a))
}

// PeerConfig is one configured peer with its single CHILD_SA.
type PeerConfig struct {
	Name string
	// Remote is the peer's address; invalid means respond only (any address).
	Remote netip.Addr
	// RemoteID admits the authenticated peer. ExactIdentity is also sent as IDr.
	RemoteID pki.PeerMatcher
	// LocalID overrides Credentials.ID for this peer when valid (Type != 0).
	LocalID  pki.Identity
	Mode     kernel.Mode
	LocalTS  []netip.Prefix // empty: our own address (host to host)
	RemoteTS []netip.Prefix // empty: the peer's address
	IKE      []suite.Proposal
	ESP      []suite.Proposal
	// DPDInterval is the liveness check period; 0 turns DPD off.
	DPDInterval time.Duration
	// RekeyTime is the CHILD_SA lifetime before a rekey; 0: DefaultRekeyTime.
	RekeyTime time.Duration
	// IKERekeyTime is the IKE SA lifetime before a rekey; 0: DefaultIKERekeyTime.
	IKERekeyTime time.Duration
	// ReauthTime is how long an IKE SA lives before it is replaced by a
	// freshly authenticated one (make-before-break); 0 turns reauth off.
	ReauthTime time.Duration
	// DPDAction is what happens to the peer once DPD declares it dead.
	DPDAction   DPDAction
	StartAction StartAction
}

// DPDAction says what to do when dead peer detection gives up on a peer.
type DPDAction int

const (
	DPDClear   DPDAction = iota // delete the SAs; the peer must come back by itself
	DPDRestart                  // delete the SAs and initiate again at once
	DPDTrap                     // delete the SAs and install trap policies: initiate on traffic
)

func (a DPDAction) String() string {
	switch a {
	case DPDClear:
		return "clear"
	case DPDRestart:
		return "restart"
	case DPDTrap:
		return "trap"
	}
	return fmt.Sprintf("dpd-action(%d)", int(a))
}

// Equal reports whether two peer configs would negotiate the same SAs, so a
// config reload can leave an unchanged peer's SAs alone.
func (p *PeerConfig) Equal(o *PeerConfig) bool {
	return p.Name == o.Name && p.Remote == o.Remote && p.RemoteID.String() == o.RemoteID.String() &&
		p.LocalID.Equal(o.LocalID) && p.Mode == o.Mode &&
		slices.Equal(p.LocalTS, o.LocalTS) && slices.Equal(p.RemoteTS, o.RemoteTS) &&
		proposalsEqual(p.IKE, o.IKE) && proposalsEqual(p.ESP, o.ESP) &&
		p.DPDInterval == o.DPDInterval && p.RekeyTime == o.RekeyTime && p.IKERekeyTime == o.IKERekeyTime &&
		p.ReauthTime == o.ReauthTime && p.DPDAction == o.DPDAction && p.StartAction == o.StartAction
}

func proposalsEqual(a, b []suite.Proposal) bool {
	return slices.EqualFunc(a, b, func(x, y suite.Proposal) bool { return x.String() == y.String() })
}

func (p *PeerConfig) validate() error {
	switch {
	case p.Name == "":
		return errors.New("peer without a name")
	case len(p.IKE) == 0:
		return fmt.Errorf("peer %s: no IKE proposals", p.Name)
	case len(p.ESP) == 0:
		return fmt.Errorf("peer %s: no ESP proposals", p.Name)
	case p.StartAction != StartNone && !p.Remote.IsValid():
		return fmt.Errorf("peer %s: start action %v needs the peer's address", p.Name, p.StartAction)
	}
	return nil
}

func (p *PeerConfig) rekeyTime() time.Duration {
	if p.RekeyTime > 0 {
		return p.RekeyTime
	}
	return DefaultRekeyTime
}

func (p *PeerConfig) ikeRekeyTime() time.Duration {
	if p.IKERekeyTime > 0 {
		return p.IKERekeyTime
	}
	return DefaultIKERekeyTime
}

// Config is everything an Engine needs.
type Config struct {
	Transport Transport
	Kernel    kernel.Backend
	Clock     Clock     // nil: RealClock
	Random    io.Reader // nil: crypto/rand
	Log       Logger    // nil funcs: discarded
	Trust     *pki.TrustStore
	Creds     Credentials
	// Port is the IKE port (500) and NATTPort the NAT-T port (4500); tests
	// running two engines on one host choose others.
	Port, NATTPort uint16
	// LocalAddr picks our source address for talking to remote when we
	// initiate; nil: the engine cannot initiate.
	LocalAddr func(remote netip.Addr) (netip.Addr, error)
	// Ownership is the kernel ownership rule; zero: kernel.DefaultOwnership.
	Ownership kernel.Ownership
	// PeerCertificates, when set, sees every certificate set a peer sends
	// in IKE_AUTH before it is verified (a CRL fetcher learns distribution
	// points from it). It is called with the engine's lock held: it must
	// not block and must not call back into the Engine.
	PeerCertificates func(leaf *x509.Certificate, intermediates []*x509.Certificate)
	// CookieThreshold is how many half-open responder IKE SAs make us
	// answer IKE_SA_INIT requests without a valid COOKIE with a COOKIE
	// only (RFC 7296 2.6); 0: DefaultCookieThreshold, negative: never.
	CookieThreshold int
	// HalfOpenLimit caps the half-open responder IKE SAs: at the cap new
	// IKE_SA_INIT requests are dropped unanswered. 0: HalfOpenLimitFactor
	// times the cookie threshold (the default one when cookies are off),
	// negative: no cap.
	HalfOpenLimit int
	// CookieThresholdIP is how many half-open SAs of one source address
	// make us ask that source for a COOKIE regardless of the total;
	// 0: DefaultCookieThresholdIP, negative: never (halfopen.go).
	CookieThresholdIP int
	// BlockThreshold is how many half-open SAs one source address may hold
	// (beyond it its requests are dropped; a configured peer's address
	// keeps that many in reserve beyond HalfOpenLimit); 0:
	// DefaultBlockThreshold, negative: no per-source limit.
	BlockThreshold int
	// KeepaliveInterval is how long an IKE SA behind a NAT stays silent
	// towards its peer before it sends a NAT-keepalive (RFC 3948 2.3);
	// 0: DefaultKeepaliveInterval, negative: never.
	KeepaliveInterval time.Duration
	// SaveState, when set, receives the engine's state (Export's encoding)
	// after every change, before any datagram that change produced is sent:
	// a daemon keeps it in RAM (a file under /run) so that a restarted
	// process continues the same SAs (Restore). It is called with the
	// engine's lock held: it must not block long or call back.
	SaveState func(state []byte)
}
