package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"alixsec.dev/ikesvc/pki"
)

// testPKI is a root CA, an intermediate CA under it, and whatever leaves
// the tests issue; the intermediate signs CRLs for its leaves.
type testPKI struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	serial            int64
	revoked           []x509.RevocationListEntry
}

// rsaKeys is a small pool of RSA keys handed out in turn: generating them
// dominates the test time under -race, and one PKI needs only four.
var rsaKeys = struct {
	sync.Mutex
	keys []*rsa.PrivateKey
	next int
}{}

func newKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	if kind == "rsa" {
		rsaKeys.Lock()
		defer rsaKeys.Unlock()
		if len(rsaKeys.keys) < 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			rsaKeys.keys = append(rsaKeys.keys, k)
			return k
		}
		rsaKeys.next++
		return rsaKeys.keys[rsaKeys.next%len(rsaKeys.keys)]
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestPKI(t testing.TB, org, kind string) *testPKI {
	t.Helper()
	p := &testPKI{rootKey: newKey(t, kind), interKey: newKey(t, kind), serial: 10}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{org}, CommonName: org + " Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	p.root = p.create(t, rootTmpl, rootTmpl, p.rootKey.Public(), p.rootKey)
	interTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{org}, CommonName: org + " Intermediate CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	p.inter = p.create(t, interTmpl, p.root, p.interKey.Public(), p.rootKey)
	return p
}

func (p *testPKI) create(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issue makes a leaf for host cn with addr as an IP subjectAltName.
func (p *testPKI) issue(t testing.TB, cn, kind string, addr netip.Addr) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t, kind)
	p.serial++
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{p.root.Subject.Organization[0]}, CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, DNSNames: []string{cn}, IPAddresses: []net.IP{addr.AsSlice()},
	}
	return p.create(t, tmpl, p.inter, key.Public(), p.interKey), key
}

func (p *testPKI) revoke(cert *x509.Certificate) {
	p.revoked = append(p.revoked, x509.RevocationListEntry{SerialNumber: cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
}

// trust is a trust store anchored at the root, with the intermediate's CRL.
func (p *testPKI) trust(t testing.TB) *pki.TrustStore {
	t.Helper()
	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(24 * time.Hour),
		RevokedCertificateEntries: p.revoked,
	}, p.inter, p.interKey)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := pki.NewTrustStore(pki.TrustConfig{Roots: []*x509.Certificate{p.root}, Intermediates: []*x509.Certificate{p.inter}, CRLs: []*x509.RevocationList{crl}, CRLPolicy: pki.CRLRelaxed})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
