package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"
)

// testNow is the clock of every test: certificates are valid a year around it.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type certOpts struct {
	subject   string // DN string
	notBefore time.Time
	notAfter  time.Time
	keyUsage  x509.KeyUsage
	isCA      bool
	pathLen   int // -1: unconstrained
	dns       []string
	ips       []net.IP
	emails    []string
	key       crypto.Signer // nil: a new P-256 key
	serial    int64
}

func (o certOpts) withDefaults() certOpts {
	if o.notBefore.IsZero() {
		o.notBefore = testNow.Add(-180 * 24 * time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = testNow.Add(180 * 24 * time.Hour)
	}
	if o.keyUsage == 0 {
		o.keyUsage = x509.KeyUsageDigitalSignature
		if o.isCA {
			o.keyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
	}
	return o
}

func newP256(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// makeCert issues a certificate; parent nil means self-signed.
func makeCert(t testing.TB, parent *testCA, o certOpts) *testCA {
	t.Helper()
	o = o.withDefaults()
	key := o.key
	if key == nil {
		key = newP256(t)
	}
	dn, err := ParseDN(o.subject)
	if err != nil {
		t.Fatal(err)
	}
	rawSubject, err := MarshalDN(dn)
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(o.serial)
	if o.serial == 0 {
		if serial, err = rand.Int(rand.Reader, big.NewInt(1<<62)); err != nil {
			t.Fatal(err)
		}
		serial.Add(serial, big.NewInt(1))
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            rawSubject,
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              o.keyUsage,
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
		DNSNames:              o.dns,
		IPAddresses:           o.ips,
		EmailAddresses:        o.emails,
	}
	if o.isCA {
		tmpl.MaxPathLen = o.pathLen
		tmpl.MaxPathLenZero = o.pathLen == 0
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		issuerCert, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// crl makes a CRL of ca revoking certs (reason keyCompromise).
func (ca *testCA) crl(t testing.TB, number int64, thisUpdate, nextUpdate time.Time, revoked ...*x509.Certificate) *x509.RevocationList {
	t.Helper()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(number),
		ThisUpdate: thisUpdate,
		NextUpdate: nextUpdate,
	}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: c.SerialNumber, RevocationTime: thisUpdate.Add(-time.Hour), ReasonCode: 1,
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// currentCRL is a CRL of ca valid at testNow.
func (ca *testCA) currentCRL(t testing.TB, number int64, revoked ...*x509.Certificate) *x509.RevocationList {
	return ca.crl(t, number, testNow.Add(-24*time.Hour), testNow.Add(7*24*time.Hour), revoked...)
}

// testPKI is a root, an intermediate with path length 0 and leaves under it.
type testPKI struct {
	root, inter        *testCA
	leaf               *testCA // ECDSA P-256, gw1.example.net
	rsaLeaf, edLeaf    *testCA
	otherRoot, orphan  *testCA // another PKI and a leaf of it
	interTwin          *testCA // same name as inter, other key, signed by otherRoot
	revokedLeaf        *testCA
	expiredLeaf        *testCA
	futureLeaf         *testCA
	encipherOnlyLeaf   *testCA
	subInter, subLeaf  *testCA // a CA below the path-length-0 intermediate
	notCAIssuer, child *testCA // a leaf used as an issuer
	expiredInter       *testCA
	noCertSignInter    *testCA // a CA whose keyUsage lacks keyCertSign
	leafOfNoCertSign   *testCA
	leafOfExpiredInter *testCA
}

func newTestPKI(t testing.TB, withRSA bool) *testPKI {
	t.Helper()
	p := &testPKI{}
	p.root = makeCert(t, nil, certOpts{subject: "C=JP, O=Example, CN=Example Root CA", isCA: true, pathLen: -1,
		notBefore: testNow.Add(-365 * 24 * time.Hour), notAfter: testNow.Add(10 * 365 * 24 * time.Hour)})
	p.inter = makeCert(t, p.root, certOpts{subject: "C=JP, O=Example, CN=Example Intermediate CA", isCA: true, pathLen: 0})
	leaf := func(cn string, o certOpts) *testCA {
		o.subject = "C=JP, O=Example, CN=" + cn
		if o.dns == nil {
			o.dns = []string{cn}
		}
		return makeCert(t, p.inter, o)
	}
	p.leaf = leaf("gw1.example.net", certOpts{
		ips:    []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
		emails: []string{"admin@example.net"},
	})
	if withRSA {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		p.rsaLeaf = leaf("gw-rsa.example.net", certOpts{key: k})
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.edLeaf = leaf("gw-ed.example.net", certOpts{key: edKey})
	p.otherRoot = makeCert(t, nil, certOpts{subject: "C=JP, O=Other, CN=Other Root CA", isCA: true, pathLen: -1})
	p.orphan = makeCert(t, p.otherRoot, certOpts{subject: "C=JP, O=Example, CN=gw9.example.net", dns: []string{"gw9.example.net"}})
	p.interTwin = makeCert(t, p.otherRoot, certOpts{subject: "C=JP, O=Example, CN=Example Intermediate CA", isCA: true, pathLen: 0})
	p.revokedLeaf = leaf("gw2.example.net", certOpts{})
	p.expiredLeaf = leaf("old.example.net", certOpts{notBefore: testNow.Add(-400 * 24 * time.Hour), notAfter: testNow.Add(-24 * time.Hour)})
	p.futureLeaf = leaf("new.example.net", certOpts{notBefore: testNow.Add(24 * time.Hour)})
	p.encipherOnlyLeaf = leaf("enc.example.net", certOpts{keyUsage: x509.KeyUsageKeyEncipherment})
	p.subInter = makeCert(t, p.inter, certOpts{subject: "C=JP, O=Example, CN=Sub CA", isCA: true, pathLen: -1})
	p.subLeaf = makeCert(t, p.subInter, certOpts{subject: "C=JP, O=Example, CN=deep.example.net"})
	p.notCAIssuer = leaf("notca.example.net", certOpts{keyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign})
	p.child = makeCert(t, p.notCAIssuer, certOpts{subject: "C=JP, O=Example, CN=child.example.net"})
	p.expiredInter = makeCert(t, p.root, certOpts{subject: "C=JP, O=Example, CN=Old Intermediate CA", isCA: true, pathLen: 0,
		notBefore: testNow.Add(-400 * 24 * time.Hour), notAfter: testNow.Add(-time.Hour)})
	p.leafOfExpiredInter = makeCert(t, p.expiredInter, certOpts{subject: "C=JP, O=Example, CN=gw3.example.net"})
	p.noCertSignInter = makeCert(t, p.root, certOpts{subject: "C=JP, O=Example, CN=CRL-only CA", isCA: true, pathLen: 0,
		keyUsage: x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature})
	p.leafOfNoCertSign = makeCert(t, p.noCertSignInter, certOpts{subject: "C=JP, O=Example, CN=gw4.example.net"})
	return p
}
