package ike

import "time"

// Timers of RFC 7296 and our choices where the RFC leaves them open.
const (
	// RetransmitTimeout is the first retransmission interval of a request
	// (RFC 7296 2.1 leaves it to the implementation); it doubles per try.
	RetransmitTimeout = 500 * time.Millisecond
	// RetransmitTries is how many times a request is retransmitted before
	// the peer is declared dead (0.5+1+2+4+8 s, then 16 s of waiting).
	RetransmitTries = 5
	// ProbeAfterTries is the retransmission of an unanswered request of an
	// established IKE SA (1.5 s after its first send) at which a peer with
	// dpd-action restart is probed with a fresh IKE SA (dpd.go), so a peer
	// that rebooted and stays silent about the IKE SA it lost, as
	// strongSwan does, is back within a handshake, not after the
	// retransmissions' 31 s.
	ProbeAfterTries = 2
	// HalfOpenTimeout bounds how long a responder keeps an IKE SA whose
	// IKE_AUTH never came, so spoofed IKE_SA_INITs cannot pile up.
	HalfOpenTimeout = 30 * time.Second
	// DefaultRekeyTime is the CHILD_SA lifetime when the peer config sets none.
	DefaultRekeyTime = time.Hour
	// DefaultIKERekeyTime is the IKE SA lifetime (strongSwan's default).
	DefaultIKERekeyTime = 4 * time.Hour
	// RestartDelay is how long a peer with start action "start" waits after
	// a failed or dead IKE SA before initiating again.
	RestartDelay = 5 * time.Second
	// MaxInvalidKERetries bounds INVALID_KE_PAYLOAD round trips (RFC 7296 1.2).
	MaxInvalidKERetries = 2
	// MaxCookieRetries bounds COOKIE round trips (RFC 7296 2.6).
	MaxCookieRetries = 1
	// NonceLen is the nonce we send: RFC 7296 2.10 wants at least half the
	// PRF key size and at least 128 bits; 32 bytes covers SHA-512's 256 bits.
	NonceLen = 32
	// DefaultCookieThreshold is how many half-open responder IKE SAs make
	// us ask new initiators for a COOKIE (RFC 7296 2.6) when the config
	// sets no threshold.
	DefaultCookieThreshold = 16
	// HalfOpenLimitFactor times the cookie threshold is the default hard
	// cap on half-open responder IKE SAs, beyond which new IKE_SA_INIT
	// requests are dropped unanswered.
	HalfOpenLimitFactor = 4
	// DefaultCookieThresholdIP is how many half-open responder IKE SAs of
	// one source address make us ask that source for a COOKIE even when
	// the engine is not under load (strongSwan's cookie_threshold_ip).
	DefaultCookieThresholdIP = 3
	// DefaultBlockThreshold is how many half-open responder IKE SAs one
	// source address may hold (strongSwan's block_threshold); it is also
	// the reserve every configured peer's address keeps beyond the cap.
	DefaultBlockThreshold = 5
	// HalfOpenTimeoutUnderLoad replaces HalfOpenTimeout for SAs made while
	// the engine is at its COOKIE threshold: a real initiator's IKE_AUTH
	// comes within a round trip and a few retransmissions.
	HalfOpenTimeoutUnderLoad = 5 * time.Second
	// CookieSecretLifetime is how long one COOKIE secret is used; cookies
	// made with it stay valid for one more lifetime after the rotation, so
	// one issued just before a rotation still works.
	CookieSecretLifetime = 2 * time.Minute
	// LoadLogInterval is how often a recurring load condition (COOKIEs
	// asked, requests dropped at the cap) is logged, with a count.
	LoadLogInterval = time.Minute
	// DefaultKeepaliveInterval is the NAT-keepalive period (RFC 3948 2.3)
	// of an IKE SA behind a NAT when the config sets none: the UDP
	// mappings of common NATs outlive it.
	DefaultKeepaliveInterval = 20 * time.Second
	// SupersededDeleteDelay is how long an SA replaced by a rekey the
	// peer initiated waits for the peer's Delete (RFC 7296 2.8: the rekey's
	// initiator deletes the old SA, and after a collision the redundant
	// new one) before we delete it ourselves; it outlasts the peer's
	// retransmissions of that Delete.
	SupersededDeleteDelay = 2 * time.Minute
	// ReplayWindow is the ESP anti-replay window installed with every SA
	// (the kernel's legacy bitmap holds 32 without ESN).
	ReplayWindow = 32
)
