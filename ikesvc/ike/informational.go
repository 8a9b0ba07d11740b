package ike

import (
	"errors"

	"alixsec.dev/ikesvc/wire"
)

var errBadNonce = errors.New("nonce missing or not 16-256 bytes")

// consumeInformationalRequest answers an INFORMATIONAL: Deletes of CHILD
// SAs (answered with the Deletes of our halves) or of the IKE SA, error
// notifies (logged), or nothing at all (a liveness check).
func (sa *ikeSA) consumeInformationalRequest(m *wire.Message) {
	var ours []uint32
	removed := false
	owner := sa.current() // CHILD_SAs may have moved on in an IKE SA rekey
	for _, p := range m.Protected {
		switch p := p.(type) {
		case *wire.Delete:
			switch p.Protocol {
			case wire.ProtocolIKE:
				sa.e.log.Verbosef("ike: peer %s: peer deleted IKE SA %x", sa.peerName(), sa.ourSPI())
				// A Delete overtaking the answer to our colliding rekey:
				// the peer's new IKE SA won and takes the CHILD_SAs.
				sa.adoptPeerSuccessor()
				sa.respond(m, nil)
				// A "start" peer comes back after RestartDelay: the other
				// side may only be reloading its configuration.
				sa.close(true)
				return
			case wire.ProtocolESP:
				for _, spi := range p.SPIs {
					if c := owner.childByOutSPI(spi); c != nil {
						// Both ends deleting at once (RFC 7296 1.4.1): our
						// own Delete already names our half.
						if !c.deleting {
							ours = append(ours, c.inSPI)
						}
						owner.removeChild(c)
						removed = true
						sa.e.log.Verbosef("ike: peer %s: peer deleted CHILD_SA %08x_i %08x_o", sa.peerName(), c.inSPI, c.outSPI)
					}
				}
			}
		case *wire.Notify:
			if p.Type == wire.NotifyAuthenticationFailed {
				// The initiator refused our AUTH after we established
				// (RFC 7296 2.21.2): the SA is dead on its side.
				sa.respond(m, nil)
				sa.fail("the peer rejected our authentication (AUTHENTICATION_FAILED)", false)
				return
			}
			if p.Type.IsError() {
				sa.e.log.Errorf("ike: peer %s: peer reports %v", sa.peerName(), p.Type)
			}
		}
	}
	if removed {
		sa.e.syncKernel()
	}
	var resp []wire.Payload
	if len(ours) > 0 {
		resp = append(resp, &wire.Delete{Protocol: wire.ProtocolESP, SPIs: ours})
	}
	sa.respond(m, resp)
}
