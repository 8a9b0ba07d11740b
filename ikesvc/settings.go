package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// settings is the ipsec part of a configuration, ready for the engine.
type settings struct {
	trust *pki.TrustStore
	creds ike.Credentials
	peers []ike.PeerConfig
	// credsKey identifies the PKI material and identity, so a commit that
	// leaves them alone does not touch the trust store.
	credsKey string
}

// settingsFrom builds the engine's view of c: trust store, credentials and
// peers. A config without peers needs no PKI material.
func settingsFrom(c *model.Config) (*settings, error) {
	ip := &c.IPsec
	s := &settings{}
	if len(ip.Peers) == 0 {
		return s, nil
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var key strings.Builder
	key.WriteString(ip.LocalID + "\x00" + string(ip.CRLMode) + "\x00")

	keyPEM, ok := c.PKI.Keys[ip.Key]
	if !ok {
		fail("ipsec key %q: no such pki key", ip.Key)
	} else if signer, err := pki.ParsePrivateKey([]byte(keyPEM)); err != nil {
		fail("pki key %q: %v", ip.Key, err)
	} else {
		s.creds.Key = signer
	}
	certPEM, ok := c.PKI.Certificates[ip.Certificate]
	if !ok {
		fail("ipsec certificate %q: no such pki certificate", ip.Certificate)
	} else if certs, err := pki.ParseCertificates([]byte(certPEM)); err != nil || len(certs) == 0 {
		fail("pki certificate %q: %v", ip.Certificate, err)
	} else {
		s.creds.Cert = certs[0]
	}
	key.WriteString(keyPEM + certPEM)
	var tc pki.TrustConfig
	for _, name := range ip.CACertificates {
		data, ok := c.PKI.CACertificates[name]
		if !ok {
			fail("ipsec ca-certificate %q: no such pki ca-certificate", name)
			continue
		}
		key.WriteString(data)
		certs, err := pki.ParseCertificates([]byte(data))
		if err != nil {
			fail("pki ca-certificate %q: %v", name, err)
			continue
		}
		for _, ca := range certs {
			if bytes.Equal(ca.RawSubject, ca.RawIssuer) && ca.CheckSignatureFrom(ca) == nil {
				tc.Roots = append(tc.Roots, ca)
			} else {
				tc.Intermediates = append(tc.Intermediates, ca)
			}
		}
	}
	for _, name := range ip.CRLs {
		data, ok := c.PKI.CRLs[name]
		if !ok {
			fail("ipsec crl %q: no such pki crl", name)
			continue
		}
		key.WriteString(data)
		crl, err := pki.ParseCRL([]byte(data))
		if err != nil {
			fail("pki crl %q: %v", name, err)
			continue
		}
		tc.CRLs = append(tc.CRLs, crl)
	}
	policy, err := pki.ParseCRLPolicy(string(ip.EffectiveCRLMode()))
	if err != nil {
		fail("ipsec crl-mode: %v", err)
	}
	tc.CRLPolicy = policy
	if len(errs) == 0 {
		if s.trust, err = pki.NewTrustStore(tc); err != nil {
			fail("ipsec ca-certificate: %v", err)
		}
	}
	if s.creds.Cert != nil {
		s.creds.Intermediates = issuersOf(s.creds.Cert, tc.Intermediates)
	}
	if ip.LocalID != "" {
		if s.creds.ID, err = pki.ParseIdentity(ip.LocalID); err != nil {
			fail("ipsec local-id: %v", err)
		}
	}
	names := make([]string, 0, len(ip.Peers))
	for name := range ip.Peers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pc, err := peerFrom(name, ip.Peers[name], ip)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.peers = append(s.peers, pc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.credsKey = key.String()
	return s, nil
}

// issuersOf returns the chain of CAs above cert among cas, leaf side first
// (what we send in CERT payloads after our own certificate).
func issuersOf(cert *x509.Certificate, cas []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for cur := cert; len(out) < len(cas); {
		var next *x509.Certificate
		for _, ca := range cas {
			if bytes.Equal(ca.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(ca) == nil {
				next = ca
				break
			}
		}
		if next == nil {
			break
		}
		out = append(out, next)
		cur = next
	}
	return out
}

func peerFrom(name string, p *model.Peer, ip *model.IPsec) (ike.PeerConfig, error) {
	pc := ike.PeerConfig{Name: name, Remote: p.Address}
	remote := "%any"
	switch {
	case p.RemoteIDPattern != "":
		remote = p.RemoteIDPattern
	case p.RemoteID != "":
		remote = p.RemoteID
	}
	var err error
	if pc.RemoteID, err = pki.ParsePeerMatcher(remote); err != nil {
		return pc, fmt.Errorf("peer %s remote-id: %w", name, err)
	}
	if p.LocalID != "" {
		if pc.LocalID, err = pki.ParseIdentity(p.LocalID); err != nil {
			return pc, fmt.Errorf("peer %s local-id: %w", name, err)
		}
	}
	eff := ip.PeerSettings(p)
	switch eff.Mode {
	case model.ModeTransport:
		pc.Mode = kernel.ModeTransport
	case model.ModeTunnel:
		pc.Mode = kernel.ModeTunnel
	default:
		return pc, fmt.Errorf("peer %s: unknown mode %q", name, eff.Mode)
	}
	pc.LocalTS, pc.RemoteTS = p.LocalTS, p.RemoteTS
	if pc.IKE, err = suite.ParseProposals(wire.ProtocolIKE, strings.Join(eff.IKEProposals, ",")); err != nil {
		return pc, fmt.Errorf("peer %s ike-proposal: %w", name, err)
	}
	if pc.ESP, err = suite.ParseProposals(wire.ProtocolESP, strings.Join(eff.ESPProposals, ",")); err != nil {
		return pc, fmt.Errorf("peer %s esp-proposal: %w", name, err)
	}
	pc.DPDInterval = eff.DPDInterval
	pc.RekeyTime = eff.RekeyTime
	pc.IKERekeyTime = eff.IKERekeyTime
	pc.ReauthTime = eff.ReauthTime
	switch eff.DPDAction {
	case model.DPDClear:
		pc.DPDAction = ike.DPDClear
	case model.DPDRestart:
		pc.DPDAction = ike.DPDRestart
	case model.DPDTrap:
		pc.DPDAction = ike.DPDTrap
	default:
		return pc, fmt.Errorf("peer %s: unknown dpd-action %q", name, eff.DPDAction)
	}
	switch eff.StartAction {
	case model.StartStart:
		pc.StartAction = ike.StartStart
	case model.StartTrap:
		pc.StartAction = ike.StartTrap
	case model.StartNone:
		pc.StartAction = ike.StartNone
	default:
		return pc, fmt.Errorf("peer %s: unknown start-action %q", name, eff.StartAction)
	}
	if pc.StartAction != ike.StartNone && !pc.Remote.IsValid() {
		return pc, fmt.Errorf("peer %s: start-action %s needs an address", name, eff.StartAction)
	}
	return pc, nil
}
