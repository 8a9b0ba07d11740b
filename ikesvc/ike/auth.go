package ike

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// localIdentity is what we send as IDi/IDr to p.
func (e *Engine) localIdentity(p *peer) pki.Identity {
	if p != nil && p.cfg.LocalID.Type != 0 {
		return p.cfg.LocalID
	}
	if e.cfg.Creds.ID.Type != 0 {
		return e.cfg.Creds.ID
	}
	return pki.CertificateIdentity(e.cfg.Creds.Cert)
}

// idBody is the ID payload body that AUTH covers: type, three reserved
// octets, data (RFC 7296 2.15).
func idBody(t wire.IDType, data []byte) []byte {
	return append([]byte{byte(t), 0, 0, 0}, data...)
}

// authOctets is InitiatorSignedOctets or ResponderSignedOctets (RFC 7296
// 2.15) for the side that sent the ID payload id.
func (sa *ikeSA) authOctets(ofInitiator bool, id *wire.ID) ([]byte, error) {
	prf, err := suite.NewPRF(sa.suite.PRF)
	if err != nil {
		return nil, err
	}
	msg, nonce, key := sa.initResponse, sa.ni, sa.keys.PR
	if ofInitiator {
		msg, nonce, key = sa.initRequest, sa.nr, sa.keys.PI
	}
	out := make([]byte, 0, len(msg)+len(nonce)+prf.Size())
	out = append(append(out, msg...), nonce...)
	return prf.Sum(out, key, idBody(id.Type, id.Data)), nil
}

// ourAuthPayloads are ID, CERT (leaf, then intermediates) and AUTH.
func (sa *ikeSA) ourAuthPayloads() (id *wire.ID, certs []wire.Payload, auth *wire.Auth, err error) {
	creds := sa.e.cfg.Creds
	local := sa.e.localIdentity(sa.peer)
	sa.localID = local
	id = &wire.ID{Responder: !sa.initiator, Type: wire.IDType(local.Type), Data: local.Data}
	certs = append(certs, &wire.Cert{Encoding: wire.CertX509Signature, Data: creds.Cert.Raw})
	for _, c := range creds.Intermediates {
		certs = append(certs, &wire.Cert{Encoding: wire.CertX509Signature, Data: c.Raw})
	}
	octets, err := sa.authOctets(sa.initiator, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, isRSA := creds.Key.Public().(*rsa.PublicKey); isRSA && len(sa.peerHashes) == 0 {
		// A peer without RFC 7427 gets auth method 1.
		sig, err := pki.SignRSASHA1(creds.Key, octets, sa.e.rand)
		if err != nil {
			return nil, nil, nil, err
		}
		return id, certs, &wire.Auth{Method: wire.AuthRSASignature, Data: sig}, nil
	}
	alg, err := pki.DefaultAlgorithm(creds.Key.Public(), sa.peerHashes)
	if err != nil {
		return nil, nil, nil, err
	}
	data, err := pki.SignAuth(creds.Key, alg, octets, sa.e.rand)
	if err != nil {
		return nil, nil, nil, err
	}
	return id, certs, &wire.Auth{Method: wire.AuthDigitalSignature, Data: data}, nil
}

// verifyPeer checks the peer's certificate chain, that its ID is bound to
// the certificate, and its AUTH payload.
func (sa *ikeSA) verifyPeer(m *wire.Message) (pki.Chain, pki.Identity, error) {
	idType := wire.PayloadIDr
	if !sa.initiator {
		idType = wire.PayloadIDi
	}
	id, _ := m.Find(idType).(*wire.ID)
	auth, _ := m.Find(wire.PayloadAUTH).(*wire.Auth)
	if id == nil || auth == nil {
		return nil, pki.Identity{}, fmt.Errorf("%v or AUTH payload missing", idType)
	}
	peerID := pki.Identity{Type: pki.IDType(id.Type), Data: ownBytes(id.Data)}
	var leaf *x509.Certificate
	var inter []*x509.Certificate
	for _, p := range m.Protected {
		c, ok := p.(*wire.Cert)
		if !ok || c.Encoding != wire.CertX509Signature {
			continue
		}
		cert, err := x509.ParseCertificate(ownBytes(c.Data))
		if err != nil {
			return nil, peerID, fmt.Errorf("peer %s sent an unparsable certificate: %w", peerID, err)
		}
		if leaf == nil {
			leaf = cert
		} else {
			inter = append(inter, cert)
		}
	}
	if leaf == nil {
		return nil, peerID, fmt.Errorf("peer %s sent no certificate", peerID)
	}
	if f := sa.e.cfg.PeerCertificates; f != nil {
		f(leaf, inter)
	}
	chain, err := sa.e.cfg.Trust.Verify(leaf, inter, sa.e.now())
	if err != nil {
		return nil, peerID, fmt.Errorf("certificate %q of %s: %w", pki.DNString(leaf.RawSubject), peerID, err)
	}
	if err := pki.CheckIdentity(leaf, peerID); err != nil {
		return nil, peerID, err
	}
	octets, err := sa.authOctets(!sa.initiator, id)
	if err != nil {
		return nil, peerID, err
	}
	switch auth.Method {
	case wire.AuthDigitalSignature:
		if _, err := pki.VerifyAuth(leaf.PublicKey, auth.Data, octets); err != nil {
			return nil, peerID, fmt.Errorf("AUTH of %s: %w", peerID, err)
		}
	case wire.AuthRSASignature:
		if err := pki.VerifyRSASHA1(leaf.PublicKey, octets, auth.Data); err != nil {
			return nil, peerID, fmt.Errorf("AUTH of %s: %w", peerID, err)
		}
	default:
		return nil, peerID, fmt.Errorf("AUTH of %s: unsupported method %v", peerID, auth.Method)
	}
	return chain, peerID, nil
}

// createAuthRequest builds the initiator's IKE_AUTH with the first CHILD_SA.
func (sa *ikeSA) createAuthRequest() []wire.Payload {
	id, certs, auth, err := sa.ourAuthPayloads()
	if err != nil {
		sa.fail("building AUTH: "+err.Error(), true)
		return nil
	}
	payloads := append([]wire.Payload{id}, certs...)
	var certreq []byte
	for _, kh := range sa.e.cfg.Trust.CAKeyHashes() {
		certreq = append(certreq, kh[:]...)
	}
	payloads = append(payloads, &wire.CertRequest{Encoding: wire.CertX509Signature, Data: certreq})
	if sa.initialContact {
		payloads = append(payloads, notifyPayload(wire.NotifyInitialContact, nil))
	}
	if want, ok := sa.peer.cfg.RemoteID.ExactIdentity(); ok {
		payloads = append(payloads, &wire.ID{Responder: true, Type: wire.IDType(want.Type), Data: want.Data})
	}
	payloads = append(payloads, auth)
	child, childPayloads, err := sa.proposeChild(true, nil)
	if err != nil {
		sa.e.log.Errorf("ike: peer %s: no CHILD_SA in IKE_AUTH: %v", sa.peerName(), err)
	} else {
		sa.firstChild = child
		payloads = append(payloads, childPayloads...)
	}
	return payloads
}

// consumeAuthResponse completes the initiator's IKE_AUTH.
func (sa *ikeSA) consumeAuthResponse(m *wire.Message) {
	if n := m.FindNotify(wire.NotifyAuthenticationFailed); n != nil {
		sa.fail("the peer rejected our authentication (AUTHENTICATION_FAILED)", true)
		return
	}
	if m.Find(wire.PayloadAUTH) == nil {
		for _, n := range m.Notifies() {
			if n.Type.IsError() {
				sa.fail("peer answered IKE_AUTH with "+n.Type.String(), true)
				return
			}
		}
	}
	chain, peerID, err := sa.verifyPeer(m)
	if err == nil {
		_, err = matchPeer([]*peer{sa.peer}, peerID, chain)
	}
	if err != nil {
		// RFC 7296 2.21.2: tell the responder, which already considers the
		// SA established, then forget it.
		sa.sendInformationalOnce(notifyPayload(wire.NotifyAuthenticationFailed, nil))
		sa.fail("authentication of the responder failed: "+err.Error(), true)
		return
	}
	sa.remoteID, sa.remoteChain = peerID, chain
	sa.established = sa.e.now()
	sa.state = StateEstablished
	sa.timersEstablished()
	sa.e.markContacted(sa)
	sa.dropSignedMessages()
	defer sa.settleDuplicates()  // runs last: after the reauth step
	defer sa.reauthEstablished() // once the CHILD_SA is in
	sa.e.log.Verbosef("ike: peer %s: IKE SA %x established with %s (%v)", sa.peerName(), sa.spiI, peerID, sa.suite)
	child := sa.firstChild
	sa.firstChild = nil
	if child == nil {
		return
	}
	if err := childError(m); err != nil {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA not created: %v", sa.peerName(), err)
		sa.releaseSPI(child)
		return
	}
	if err := sa.completeChild(child, m, true, sa.ni, sa.nr); err != nil {
		sa.e.log.Errorf("ike: peer %s: CHILD_SA not created: %v", sa.peerName(), err)
		sa.releaseSPI(child)
		return
	}
}

// childError returns the error notify a responder put in place of a CHILD_SA.
func childError(m *wire.Message) error {
	for _, n := range m.Notifies() {
		if n.Type.IsError() {
			return fmt.Errorf("peer answered %v", n.Type)
		}
	}
	if m.Find(wire.PayloadSA) == nil {
		return errors.New("peer answered without an SA payload")
	}
	return nil
}

// consumeAuthRequest is the responder's IKE_AUTH.
func (sa *ikeSA) consumeAuthRequest(m *wire.Message) {
	chain, peerID, err := sa.verifyPeer(m)
	var p *peer
	if err == nil {
		p, err = matchPeer(sa.candidates, peerID, chain)
	}
	if err != nil {
		var nm *noMatchError
		if errors.As(err, &nm) {
			sa.e.log.Errorf("ike: IKE_AUTH from %v: authentication failed: %v", sa.remote, err)
		} else {
			sa.e.log.Errorf("ike: IKE_AUTH from %v (candidate %s): authentication failed: %v", sa.remote, sa.candidates[0].cfg.Name, err)
		}
		sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyAuthenticationFailed, nil)})
		sa.close(false)
		return
	}
	sa.peer = p
	sa.remoteID, sa.remoteChain = peerID, chain
	id, certs, auth, err := sa.ourAuthPayloads()
	if err != nil {
		sa.e.log.Errorf("ike: peer %s: building AUTH: %v", p.cfg.Name, err)
		sa.respond(m, []wire.Payload{notifyPayload(wire.NotifyAuthenticationFailed, nil)})
		sa.close(false)
		return
	}
	payloads := append([]wire.Payload{id}, certs...)
	payloads = append(payloads, auth)
	sa.state = StateEstablished
	sa.established = sa.e.now()
	sa.timersEstablished()
	sa.e.markContacted(sa)
	sa.dropSignedMessages()
	sa.e.log.Verbosef("ike: peer %s: IKE SA %x established with %s (%v)", p.cfg.Name, sa.spiR, peerID, sa.suite)
	if m.FindNotify(wire.NotifyInitialContact) == nil {
		sa.peerReauthenticated()
	}
	if m.Find(wire.PayloadSA) != nil {
		childPayloads, child, fail := sa.acceptChild(m, true, sa.ni, sa.nr, nil)
		if fail != nil {
			payloads = append(payloads, fail)
		} else {
			payloads = append(payloads, childPayloads...)
			sa.addChild(child)
		}
	}
	if m.FindNotify(wire.NotifyInitialContact) != nil {
		// The peer restarted: its old SAs are gone on its side.
		sa.dropOthersOfIdentity()
	}
	sa.respond(m, payloads)
	sa.settleDuplicates()
}
