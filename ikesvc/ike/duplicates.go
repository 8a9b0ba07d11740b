package ike

import "alixsec.dev/ikesvc/wire"

// Duplicate IKE SAs. When both ends of a "start" pair initiate at the
// same moment (both boards boot), each answers the other's IKE_SA_INIT
// and two IKE SAs with a CHILD_SA each come up, both sent with
// INITIAL_CONTACT, so neither replaces the other. Once an end sees both
// established it settles them as RFC 7296 2.8.2 settles a rekey
// collision: the IKE SA created with the lowest of the four nonces is
// redundant and its initiator deletes it; the other end only answers the
// Delete. The CHILD_SAs of the two carry the same traffic, so the kernel
// keeps an SA in each direction throughout (childinstall.go).

// settleDuplicates deletes the IKE SAs of sa's peer that we initiated and
// that are redundant next to another established one. Should be called
// when IKE_AUTH completes, on either side.
func (sa *ikeSA) settleDuplicates() {
	p := sa.peer
	if p == nil {
		return
	}
	var plain []*ikeSA
	for _, x := range sa.e.sasOf(p) {
		if x.state == StateEstablished && !x.superseded && x.reauthOf == nil && x.reauthing == nil &&
			x.handedTo == nil && x.peerSuccessor == nil && x.successorSA == nil && !x.rekeyingIKE {
			plain = append(plain, x)
		}
	}
	for _, x := range plain {
		if !x.initiator {
			continue
		}
		for _, y := range plain {
			if y != x && ourExchangeRedundant(x.ni, x.nr, y.ni, y.nr) {
				sa.e.log.Verbosef("ike: peer %s: IKE SAs %x and %x came up at once; deleting ours, %x", p.cfg.Name, x.ourSPI(), y.ourSPI(), x.ourSPI())
				x.noRestart = true
				x.deleteKeepingChildren()
				break
			}
		}
	}
}

// deleteKeepingChildren deletes the IKE SA like delete, but its CHILD_SAs
// stay in the kernel until the peer answers the Delete: the IKE SA that
// takes over was set up by the peer, and our outbound SA of it may go in
// only once the peer has installed its inbound half, which it surely has
// when it answers a Delete sent after our IKE_AUTH answer.
func (sa *ikeSA) deleteKeepingChildren() {
	if sa.state != StateEstablished {
		sa.delete()
		return
	}
	sa.state = StateDeleting
	sa.queue = nil
	for _, c := range sa.children {
		c.rekey.Del()
	}
	sa.queueRequest(wire.ExchangeInformational, func() []wire.Payload {
		return []wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}}
	}, func(*wire.Message) {
		sa.e.log.Verbosef("ike: peer %s: IKE SA %x deleted", sa.peerName(), sa.ourSPI())
		sa.close(false)
	})
}
