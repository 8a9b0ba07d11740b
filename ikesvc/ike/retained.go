package ike

import "bytes"

// What an established IKE SA keeps is what ikesvc's memory per peer is
// made of (issue 9's goal: 8 KiB of heap per IKE SA with its CHILD_SA on
// the board; `make bench` measures it). These helpers let go of what the
// handshake needed and the SA's life does not.

// dropSignedMessages forgets the raw IKE_SA_INIT request and response,
// which only the AUTH payloads sign and check (RFC 7296 2.15), once the
// IKE SA is established: about a kilobyte per SA. The responder's
// half-open entry stays, so a late retransmission of the IKE_SA_INIT
// request still matches no new SA; it just gets no cached answer, which
// the initiator, established as well, no longer waits for.
func (sa *ikeSA) dropSignedMessages() {
	sa.initRequest, sa.initResponse = nil, nil
}

// ownBytes copies what an IKE SA keeps for its life out of a decoded
// message: decoded payloads are slices of the decrypted (or reassembled)
// message, so keeping one slice would keep the whole IKE_AUTH message
// alive. For a certificate's DER, copy before crypto/x509 parses it: a
// parsed certificate's Raw fields are slices of its input.
func ownBytes(b []byte) []byte { return bytes.Clone(b) }
