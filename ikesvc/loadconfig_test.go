package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/pki"
)

// TestLoadConfigChecks: -config FILE gets the board's commit rules, and
// each problem is one line naming the item; clock-dependent ones are
// warnings and the file still loads.
func TestLoadConfigChecks(t *testing.T) {
	p := newHostPKI(t)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	base := p.hostConfig(t, "a", a, "b", b, "start")
	now := time.Now()
	other := newHostPKI(t) // a CA the config does not trust

	leafLines := func(issuer *hostPKI, notBefore, notAfter time.Time) string {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		issuer.serial++
		cert := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(issuer.serial),
			Subject:   pkix.Name{Country: []string{"JP"}, Organization: []string{"Example"}, CommonName: "a.example.net"},
			NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}, issuer.inter, &key.PublicKey, issuer.interKey)
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return setLine("pki", "key", "a", pemOf("PRIVATE KEY", der)) + setLine("pki", "certificate", "a", string(pki.EncodeCertificatePEM(cert)))
	}
	crlLines := func(next time.Time) string {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: next.Add(-48 * time.Hour), NextUpdate: next}, p.inter, p.interKey)
		if err != nil {
			t.Fatal(err)
		}
		return setLine("pki", "crl", "inter", pemOf("X509 CRL", der)) + setLine("ipsec", "crl", "inter")
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKeyDER, _ := x509.MarshalPKCS8PrivateKey(otherKey)

	tests := []struct {
		name      string
		extra     string // set lines appended to (and overriding) base
		wantErr   []string
		wantWarns []string
	}{
		{name: "valid"},
		{name: "key does not match the certificate", extra: setLine("pki", "key", "a", pemOf("PRIVATE KEY", otherKeyDER)),
			wantErr: []string{"ipsec certificate a: does not match key a: public keys differ"}},
		{name: "certificate expired", extra: leafLines(p, now.Add(-48*time.Hour), now.Add(-time.Hour)),
			wantWarns: []string{`ipsec certificate a: certificate "C=JP, O=Example, CN=a.example.net" expired: valid until`}},
		{name: "certificate not yet valid", extra: leafLines(p, now.Add(time.Hour), now.Add(48*time.Hour)),
			wantWarns: []string{`ipsec certificate a: certificate "C=JP, O=Example, CN=a.example.net" not yet valid: valid from`}},
		{name: "certificate from an unconfigured CA", extra: leafLines(other, now.Add(-time.Hour), now.Add(time.Hour)),
			wantErr: []string{`ipsec certificate a: does not chain to a configured CA: "C=JP, O=Example, CN=a.example.net" is issued by "C=JP, O=Example, CN=Example Intermediate CA", which is not among ipsec ca-certificate root, inter`}},
		{name: "CRL past next update", extra: crlLines(now.Add(-time.Hour)),
			wantWarns: []string{`ipsec crl inter: CRL from "C=JP, O=Example, CN=Example Intermediate CA" is past its next update`}},
		{name: "current CRL", extra: crlLines(now.Add(time.Hour))},
		{name: "crl-mode strict without a CRL", extra: setLine("ipsec", "crl-mode", "strict"),
			wantErr: []string{"ipsec crl-mode strict: strict needs a crl or crl-fetch on"}},
		{name: "10 MB line", extra: "set system description " + strings.Repeat("x", 10<<20) + "\n",
			wantErr: []string{fmt.Sprintf("line %d: too long (max 1048576 bytes)", strings.Count(base, "\n")+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warns []string
			cfg, err := loadConfig(strings.NewReader(base+tt.extra), now, func(w error) { warns = append(warns, w.Error()) })
			var errs []string
			if err != nil {
				errs = strings.Split(err.Error(), "\n")
			}
			matchLines(t, "error", errs, tt.wantErr)
			matchLines(t, "warning", warns, tt.wantWarns)
			if (cfg == nil) != (len(tt.wantErr) > 0) {
				t.Errorf("config loaded: %v, want %v", cfg != nil, len(tt.wantErr) == 0)
			}
		})
	}
}

// matchLines wants exactly one line per wanted prefix, in order.
func matchLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%ss %q, want %d lines starting %q", what, got, len(want), want)
		return
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("%s %q, want it to start with %q", what, got[i], want[i])
		}
	}
}

func setLine(words ...string) string {
	return "set " + model.JoinWords(words) + "\n"
}
