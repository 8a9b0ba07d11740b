// Package ike is the IKEv2 state machine (RFC 7296): IKE_SA_INIT,
// IKE_AUTH with certificates (RFC 7427 signatures, RSA auth method 1),
// CREATE_CHILD_SA for CHILD_SA and IKE SA rekeys, INFORMATIONAL for
// deletes and liveness, NAT-T (RFC 7296 2.23, 3948) and fragmentation
// (RFC 7383). An Engine runs every IKE SA of a host.
//
// Protection under load (cookie.go): once Config.CookieThreshold
// responder SAs are half-open, an IKE_SA_INIT request without a valid
// COOKIE is answered with a COOKIE only and leaves no state (RFC 7296
// 2.6); the cookie is VersionID | HMAC-SHA256(secret, Ni | IPi | SPIi),
// the secret rotates every CookieSecretLifetime and the previous one stays
// valid for one more. Half-open SAs are also counted per source address
// (halfopen.go, after strongSwan's cookie_threshold_ip and
// block_threshold): a source at Config.CookieThresholdIP must bring a
// COOKIE, one at Config.BlockThreshold is refused; Config.HalfOpenLimit
// caps the sources that are no configured peer's address, whose own
// reserve stays free; at the cap a newcomer that proved its address
// evicts a stale SA or one of a source over its share before requests are
// dropped unanswered; under load half-open SAs live only
// HalfOpenTimeoutUnderLoad. Every condition is logged once per
// LoadLogInterval, with a count, never per packet.
//
// NAT keepalives (timers.go): an established IKE SA that found itself
// behind a NAT sends the one-byte NAT-keepalive (RFC 3948 2.3) from its
// NAT-T port whenever nothing else went to the peer for
// Config.KeepaliveInterval, through a Transport that implements
// KeepaliveSender. Only IKE traffic counts as sent: the engine does not
// see the kernel's ESP, so a busy tunnel still gets its keepalives.
//
// Rekeys (RFC 7296 2.8, 2.18): the new CHILD_SA or IKE SA comes up next
// to the old one, which its rekey's initiator then deletes. When both
// ends rekey the same SA at once, each answers the other's request and,
// once both exchanges are done, the new SA created with the lowest of the
// four nonces is deleted by its initiator while the other end deletes the
// old SA (2.8.1, 2.8.2; collision.go): one SA is left, never two, and the
// kernel ends with one pair of ESP SAs per CHILD_SA. A rekey request for
// an SA we are deleting is refused with TEMPORARY_FAILURE, one for an SA
// already gone with CHILD_SA_NOT_FOUND (2.25). An SA superseded by the
// peer's rekey that the peer fails to delete goes after
// SupersededDeleteDelay.
//
// Make-before-break (childinstall.go): a replaced CHILD_SA's successor is
// installed before traffic moves to it, and the old SA leaves only after:
// the responder of a rekey installs the new inbound SA at once and its
// outbound SA when the old SA leaves (or after PendingOutboundLimit), the
// initiator installs both on the response and then deletes the old one,
// whose inbound half stays for RekeyedInboundGrace so packets in flight
// are accepted. IKE SA rekeys move the CHILD_SAs without touching the
// kernel. Reauthentication (reauth.go, PeerConfig.ReauthTime) builds a
// new IKE SA and CHILD_SA next to the old ones and only then deletes the
// old IKE SA. Rekey and reauth times of the exchange's initiator come up
// to 10% early (jitter), the responder's 10% late.
//
// Dead peers (dpd.go): when a request of an established IKE SA goes
// unanswered, or a rebooted peer answers it twice with INVALID_IKE_SPI,
// PeerConfig.DPDAction clears, restarts or traps the peer. A restart
// peer whose request stays unanswered for 1.5 s is probed with a fresh
// IKE SA, make-before-break, so a rebooted peer that stays silent about
// the IKE SA it lost (strongSwan) is back within a handshake.
//
// Layout, as in wireguard-go's device package: constants.go holds the
// timers, state.go the State type and its diagram, timers.go the timer
// wrapper and the expiredX callbacks, and each exchange has its
// Create/Consume pair (init.go, auth.go, createchild.go, ikerekey.go,
// informational.go); collision.go settles simultaneous rekeys. child.go negotiates CHILD_SAs and kernelsync.go turns
// them into the one kernel.Set the reconcile-style backend wants.
//
// Concurrency: one mutex per Engine guards all state. Entry points
// (HandlePacket, HandleKernelEvent, SetPeers, Initiate, Terminate, timer
// callbacks) take it; the Transport and the kernel backend are called with
// it held, so they must not call back into the Engine.
package ike
