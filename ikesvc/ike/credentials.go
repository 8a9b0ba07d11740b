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
	e.mu.Lock()
	defer e.mu.Unlock()
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
