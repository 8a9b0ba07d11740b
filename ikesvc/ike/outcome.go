package ike

import (
	"context"
	"errors"
	"fmt"

	"alixsec.dev/ikesvc/wire"
)

// Outcome is how an initiation ended, for an admin who asked for it
// (`ikesvc -control S initiate PEER`, the CLI's `request ipsec initiate`),
// as swanctl --initiate reports it.
type Outcome struct {
	Peer string `json:"peer"`
	// IKE is the IKE SA's algorithms (strongSwan syntax) once it is
	// established; "" when it failed.
	IKE string `json:"ike,omitempty"`
	// Child is the first CHILD_SA's algorithms; "" when none was created.
	Child string `json:"child,omitempty"`
	// Error says, in words, why the IKE SA failed or why the CHILD_SA was
	// not created.
	Error string `json:"error,omitempty"`
}

// OK reports whether both the IKE SA and its CHILD_SA came up.
func (o Outcome) OK() bool { return o.IKE != "" && o.Child != "" && o.Error == "" }

// String is the one line an admin reads.
func (o Outcome) String() string {
	switch {
	case o.OK():
		return fmt.Sprintf("established IKE SA %s, CHILD_SA %s", o.IKE, o.Child)
	case o.IKE != "":
		return fmt.Sprintf("established IKE SA %s, but no CHILD_SA: %s", o.IKE, o.Error)
	}
	return "failed: " + o.Error
}

// closedBeforeEstablished is the outcome of an IKE SA closed before it was
// established for another reason than a failure (a terminate, a new
// configuration, shutdown).
const closedBeforeEstablished = "the IKE SA was closed before it was established (terminated or reconfigured)"

// InitiateWait is Initiate that waits for the result: the IKE SA with its
// first CHILD_SA established, or the reason it failed. A peer that already
// has an established IKE SA reports it at once; one with a handshake under
// way reports that handshake's end. When ctx ends first, the Outcome says
// so (the handshake goes on).
func (e *Engine) InitiateWait(ctx context.Context, name string) (Outcome, error) {
	done := make(chan Outcome, 1)
	if err := e.initiateNotify(name, func(o Outcome) { done <- o }); err != nil {
		return Outcome{}, err
	}
	select {
	case o := <-done:
		return o, nil
	case <-ctx.Done():
		return Outcome{Peer: name, Error: "no result in time; the handshake goes on (see show ipsec sa)"}, nil
	}
}

// initiateNotify starts (or joins) the peer's initiation and calls report
// once with its outcome, with the engine's lock held: report must not
// block and must not call back into the Engine.
func (e *Engine) initiateNotify(name string, report func(Outcome)) error {
	e.lock()
	defer e.unlock()
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("initiate %s: %w", name, ErrUnknownPeer)
	}
	if !p.cfg.Remote.IsValid() {
		return fmt.Errorf("initiate %s: the peer has no address (respond only)", name)
	}
	var pending *ikeSA
	for _, sa := range e.sasOf(p) {
		switch {
		case sa.state == StateEstablished:
			report(sa.establishedOutcome(nil))
			return nil
		case sa.state != StateDeleting && sa.state != StateClosed && sa.initiator:
			pending = sa
		}
	}
	if pending == nil {
		if err := e.initiate(p); err != nil {
			return fmt.Errorf("initiate %s: %w", name, err)
		}
		for _, sa := range e.sasOf(p) {
			if sa.initiator && sa.state != StateDeleting && sa.state != StateClosed && sa.state != StateEstablished {
				pending = sa
			}
		}
	}
	if pending == nil {
		// A responder handshake is under way (the peer initiated): its
		// end is not ours to report, so report what we know.
		return fmt.Errorf("initiate %s: the peer is initiating an IKE SA itself; see show ipsec sa", name)
	}
	pending.outcomeWatchers = append(pending.outcomeWatchers, report)
	return nil
}

// consumeAuthResponseReporting is consumeAuthResponse that then tells the
// outcome watchers how the IKE SA and its first CHILD_SA ended (a failure
// has already been reported by fail).
func (sa *ikeSA) consumeAuthResponseReporting(m *wire.Message) {
	sa.consumeAuthResponse(m)
	if sa.state == StateEstablished && len(sa.outcomeWatchers) > 0 {
		sa.reportOutcome(sa.establishedOutcome(childError(m)))
	}
}

// reportOutcome tells every watcher of sa its outcome, once.
func (sa *ikeSA) reportOutcome(o Outcome) {
	ws := sa.outcomeWatchers
	sa.outcomeWatchers = nil
	for _, w := range ws {
		w(o)
	}
}

// reportFailure reports an IKE SA that did not come up.
func (sa *ikeSA) reportFailure(why string) {
	if len(sa.outcomeWatchers) > 0 {
		sa.reportOutcome(Outcome{Peer: sa.peerName(), Error: why})
	}
}

// establishedOutcome is the outcome of an established sa: its algorithms
// and its newest CHILD_SA's, or childErr when it has none.
func (sa *ikeSA) establishedOutcome(childErr error) Outcome {
	o := Outcome{Peer: sa.peerName(), IKE: sa.suite.String()}
	if n := len(sa.children); n > 0 {
		o.Child = sa.children[n-1].suite.String()
		return o
	}
	if childErr == nil {
		childErr = errors.New("the CHILD_SA was not created (see show log)")
	}
	o.Error = childErr.Error()
	return o
}
