package ike

import (
	"errors"
	"fmt"
)

// RekeyKind names what Rekey renews.
type RekeyKind string

// What an operator can rekey now (strongSwan's `swanctl --rekey`, with
// --ike and --reauth).
const (
	RekeyChild  RekeyKind = "child"  // every CHILD_SA of the peer
	RekeyIKE    RekeyKind = "ike"    // the IKE SA; its CHILD_SAs move to the new one
	RekeyReauth RekeyKind = "reauth" // a new IKE SA with a full IKE_AUTH
)

// ErrNotEstablished is returned by Rekey for a peer without an
// ESTABLISHED IKE SA.
var ErrNotEstablished = errors.New("no ESTABLISHED IKE SA")

// Rekey starts now what the peer's lifetimes would start later, through
// the same code the timers run: a CHILD_SA rekey of every CHILD_SA, an
// IKE SA rekey, or a reauthentication. It returns once the request is queued; the exchange
// finishes in the background (show ipsec sa shows the new SPIs). An
// operator tool, and the way tests trigger rekeys without waiting for
// the configured minimum rekey-time.
func (e *Engine) Rekey(name string, kind RekeyKind) error {
	e.lock()
	defer e.unlock()
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("rekey %s: %w", name, ErrUnknownPeer)
	}
	var sa *ikeSA
	for _, s := range e.sasOf(p) {
		if s.state == StateEstablished && !s.superseded && s.handedTo == nil {
			sa = s // the newest one wins: sasOf sorts by creation
		}
	}
	if sa == nil {
		return fmt.Errorf("rekey %s: %w", name, ErrNotEstablished)
	}
	switch kind {
	case RekeyChild:
		if len(sa.children) == 0 {
			return fmt.Errorf("rekey %s: the IKE SA has no CHILD_SA", name)
		}
		for _, c := range append([]*childSA(nil), sa.children...) {
			sa.rekeyChild(c)
		}
	case RekeyIKE:
		if sa.rekeyingIKE {
			return fmt.Errorf("rekey %s: an IKE SA rekey is already running", name)
		}
		sa.rekeyIKE()
	case RekeyReauth:
		if sa.reauthing != nil {
			return fmt.Errorf("rekey %s: a reauthentication is already running", name)
		}
		sa.expiredReauth() // make-before-break, as at reauth-time (reauth.go)
	default:
		return fmt.Errorf("rekey %s: unknown kind %q (want child, ike or reauth)", name, kind)
	}
	return nil
}
