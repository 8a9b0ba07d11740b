package model

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"

	"alixsec.dev/ikesvc/pki"
)

// Validate checks what per-value checks cannot: references between
// sections and combinations of settings. It returns every problem found,
// joined with errors.Join, each a *PathError on its own line.
func (c *Config) Validate() error {
	var errs []error
	add := func(path []string, value, format string, args ...any) {
		errs = append(errs, pathErr(path, value, format, args...))
	}
	// Per-value checks again, in case c was built in Go rather than by Set.
	for _, l := range c.Lines() {
		if err := (&Config{}).Set(l); err != nil {
			errs = append(errs, err)
		}
	}

	for name, ifc := range c.Interfaces {
		for _, a := range ifc.Addresses {
			if a.Addr().Is6() && ifc.MTU != 0 && ifc.MTU < 1280 {
				add([]string{"interfaces", name, "mtu"}, fmt.Sprint(ifc.MTU), "must be at least 1280 with an IPv6 address (%s)", a)
				break
			}
		}
	}
	for dst, r := range c.Routes {
		p := []string{"routes", dst}
		if !r.NextHop.IsValid() && r.Interface == "" {
			add(p, "", "needs next-hop or interface")
		}
		if r.NextHop.IsValid() && r.NextHop.Is4() != strings.Contains(dst, ".") {
			add(append(p, "next-hop"), r.NextHop.String(), "must be of the same address family as %s", dst)
		}
		if r.Interface != "" && c.Interfaces[r.Interface] == nil {
			add(append(p, "interface"), r.Interface, "no such interface; configured: %s", keyList(c.Interfaces))
		}
	}

	ip := &c.IPsec
	ref := func(field, name string, pool map[string]string, section string) {
		if _, ok := pool[name]; !ok {
			add([]string{"ipsec", field}, name, "no such entry in pki %s; defined: %s", section, keyList(pool))
		}
	}
	if ip.Key != "" {
		ref("key", ip.Key, c.PKI.Keys, "key")
	}
	if ip.Certificate != "" {
		ref("certificate", ip.Certificate, c.PKI.Certificates, "certificate")
	}
	for _, n := range ip.CACertificates {
		ref("ca-certificate", n, c.PKI.CACertificates, "ca-certificate")
	}
	for _, n := range ip.CRLs {
		ref("crl", n, c.PKI.CRLs, "crl")
	}
	if (ip.Key == "") != (ip.Certificate == "") {
		add([]string{"ipsec"}, "", "key and certificate must be set together")
	}
	if k, ok := c.PKI.Keys[ip.Key]; ok {
		if crt, ok := c.PKI.Certificates[ip.Certificate]; ok {
			if err := keyMatchesCert(k, crt); err != nil {
				add([]string{"ipsec", "certificate"}, ip.Certificate, "does not match key %s: %v", ip.Key, err)
			}
		}
	}
	if err := c.validateChain(); err != nil {
		errs = append(errs, err)
	}
	if ip.CRLMode == CRLStrict && len(ip.CRLs) == 0 && !ip.CRLFetch {
		add([]string{"ipsec", "crl-mode"}, string(ip.CRLMode), "strict needs a crl or crl-fetch on")
	}
	for _, name := range keyList2(ip.Peers) {
		errs = append(errs, c.validatePeer(name, ip.Peers[name])...)
	}
	sortErrors(errs)
	return errors.Join(errs...)
}

func (c *Config) validatePeer(name string, p *Peer) []error {
	var errs []error
	path := []string{"ipsec", "peer", name}
	add := func(sub string, value, format string, args ...any) {
		pp := path
		if sub != "" {
			pp = append(append([]string(nil), path...), sub)
		}
		errs = append(errs, pathErr(pp, value, format, args...))
	}
	ip := &c.IPsec
	switch {
	case p.RemoteID != "" && p.RemoteIDPattern != "":
		add("", "", "set either remote-id or remote-id-pattern, not both")
	case p.RemoteID == "" && p.RemoteIDPattern == "":
		add("", "", "needs remote-id or remote-id-pattern")
	}
	if p.LocalID == "" && ip.LocalID == "" {
		add("", "", "needs a local identity: set ipsec local-id or this peer's local-id")
	}
	if ip.Key == "" || ip.Certificate == "" {
		add("", "", "needs ipsec key and ipsec certificate (authentication is by certificate)")
	}
	if len(ip.CACertificates) == 0 {
		add("", "", "needs at least one ipsec ca-certificate to verify the peer")
	}
	eff := ip.PeerSettings(p)
	if eff.StartAction != StartNone && !p.Address.IsValid() {
		add("address", "", "needed to initiate (start-action %s); use start-action none to only respond", eff.StartAction)
	}
	if eff.StartAction == StartNone && eff.DPDAction != DPDClear && !p.Address.IsValid() {
		add("address", "", "needed to initiate again (dpd-action %s); use dpd-action clear to only respond", eff.DPDAction)
	}
	// A reauthentication replaces the IKE SA and so restarts its rekey
	// timer: at or below ike-rekey-time the IKE SA would never be rekeyed,
	// which is not what anyone setting both means.
	if eff.ReauthTime > 0 && eff.ReauthTime <= eff.IKERekeyTime {
		add("", "", "reauth-time %d must be greater than ike-rekey-time %d (a reauthentication replaces the IKE SA, so it would never be rekeyed): raise reauth-time, lower ike-rekey-time or set reauth-time 0",
			int(eff.ReauthTime.Seconds()), int(eff.IKERekeyTime.Seconds()))
	}
	if eff.Mode == ModeTunnel && (len(p.LocalTS) == 0 || len(p.RemoteTS) == 0) {
		add("", "", "tunnel mode needs local-ts and remote-ts")
	}
	return errs
}

func keyMatchesCert(keyPEM, certPEM string) error {
	cb, _ := pem.Decode([]byte(certPEM))
	if cb == nil {
		return fmt.Errorf("PEM does not decode")
	}
	signer, err := pki.ParsePrivateKey([]byte(keyPEM))
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return err
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("public keys differ")
	}
	return nil
}

func keyList[V any](m map[string]V) string {
	if len(m) == 0 {
		return "(none)"
	}
	return strings.Join(keyList2(m), ", ")
}

func keyList2[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}
