package ike

import "fmt"

// Rekey rekeys every CHILD_SA of the named peer now, as its rekey timer
// would (make-before-break; RFC 7296 2.8): operators and tests need not
// wait for rekey-time. A CHILD_SA already being rekeyed or deleted is
// left alone.
func (e *Engine) Rekey(name string) error {
	e.lock()
	defer e.unlock()
	p, ok := e.peers[name]
	if !ok {
		return fmt.Errorf("rekey %s: %w", name, ErrUnknownPeer)
	}
	n := 0
	for _, sa := range e.sasOf(p) {
		if sa.state != StateEstablished {
			continue
		}
		for _, c := range append([]*childSA(nil), sa.children...) {
			if !c.rekeying && !c.deleting && !c.superseded {
				sa.rekeyChild(c)
				n++
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("rekey %s: no established CHILD_SA", name)
	}
	return nil
}
