package ike

import (
	"errors"

	"alixsec.dev/ikesvc/pki"
)

// SetCredentials replaces the trust store and our credentials (a config
// commit changed the PKI section). New SAs use them at once; established
// SAs whose peer chain no longer verifies (a new CRL revokes it, its CA
// was removed) are deleted, the others are left alone.
func (e *Engine) SetCredentials(trust *pki.TrustStore, creds Credentials) error {
	if trust == nil || creds.Key == nil || creds.Cert == nil {
		return errors.New("ike: credentials need a trust store, a private key and a certificate")
	}
	e.lock()
	defer e.unlock()
	e.cfg.Trust, e.cfg.Creds = trust, creds
	now := e.now()
	for _, sa := range e.sas {
		if sa.state != StateEstablished || len(sa.remoteChain) == 0 {
			continue
		}
		leaf := sa.remoteChain.Leaf()
		if _, err := trust.Verify(leaf, sa.remoteChain[1:], now); err != nil {
			e.log.Errorf("ike: peer %s: deleting IKE SA %x: peer certificate no longer trusted: %v", sa.peerName(), sa.ourSPI(), err)
			sa.delete()
		}
	}
	return nil
}

// PeerChains returns the verified certificate chains of the established
// IKE SAs' peers (a CRL fetcher refreshes the CRLs of their CAs).
func (e *Engine) PeerChains() []pki.Chain {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []pki.Chain
	for _, sa := range e.sas {
		if sa.state == StateEstablished && len(sa.remoteChain) > 0 {
			out = append(out, sa.remoteChain)
		}
	}
	return out
}

// DeleteRevoked deletes the established IKE SAs whose peer chain holds a
// certificate that a CRL now stored in the trust store revokes (a fetcher
// stored a new CRL): the peer is told, the CHILD_SAs leave the kernel at
// once. New attempts of that peer fail at IKE_AUTH, where Verify checks
// the same CRLs. It returns the names of the peers whose SAs it deleted.
func (e *Engine) DeleteRevoked() []string {
	e.lock()
	defer e.unlock()
	var sas []*ikeSA
	var chains []pki.Chain
	for _, sa := range e.sas {
		if sa.state == StateEstablished && len(sa.remoteChain) > 0 {
			sas = append(sas, sa)
			chains = append(chains, sa.remoteChain)
		}
	}
	var names []string
	now := e.now()
	for _, i := range e.cfg.Trust.RevokedAmong(chains) {
		sa := sas[i]
		err := e.cfg.Trust.Recheck(sa.remoteChain, now)
		e.log.Errorf("ike: peer %s: deleting IKE SA %x: peer certificate revoked: %v", sa.peerName(), sa.ourSPI(), err)
		names = append(names, sa.peerName())
		sa.delete()
	}
	return names
}
