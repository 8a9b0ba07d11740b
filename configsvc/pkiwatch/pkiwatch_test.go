package pkiwatch

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"reflect"
	"testing"
	"time"

	"alixsec.dev/configsvc/model"
)

const day = 24 * time.Hour

var now = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// cert makes a self-signed certificate named cn valid until notAfter,
// returned as PEM with the CA to sign CRLs.
func cert(t *testing.T, cn string, isCA bool, notAfter time.Time) (string, *ca) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-400 * day),
		NotAfter:              notAfter,
		IsCA:                  isCA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), &ca{c, key}
}

func (c *ca) crl(t *testing.T, thisUpdate, nextUpdate time.Time) string {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}, c.cert, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

func TestExpiring(t *testing.T) {
	soon, _ := cert(t, "soon", false, now.Add(10*day+time.Hour))
	later, _ := cert(t, "later", false, now.Add(31*day))
	gone, _ := cert(t, "gone", false, now.Add(-2*day))
	caSoon, root := cert(t, "root", true, now.Add(29*day+time.Hour))
	caLater, _ := cert(t, "root2", true, now.Add(3650*day))
	tests := []struct {
		name string
		pki  model.PKI
		want []string
	}{
		{"nothing near expiry", model.PKI{
			Certificates:   map[string]string{"later": later},
			CACertificates: map[string]string{"root2": caLater},
		}, nil},
		{"certificates and CAs", model.PKI{
			Certificates:   map[string]string{"soon": soon, "later": later, "gone": gone},
			CACertificates: map[string]string{"root": caSoon, "root2": caLater},
		}, []string{
			`pki certificate gone: "CN=gone" expired 2027-02-27 12:00 UTC`,
			`pki certificate soon: "CN=soon" expires 2027-03-11 13:00 UTC (in 10 days)`,
			`pki ca-certificate root: "CN=root" expires 2027-03-30 13:00 UTC (in 29 days)`,
		}},
		{"CRLs", model.PKI{
			CRLs: map[string]string{
				"weekly-fresh":  root.crl(t, now.Add(-day), now.Add(6*day)),
				"weekly-late":   root.crl(t, now.Add(-5*day), now.Add(2*day)),
				"stale":         root.crl(t, now.Add(-9*day), now.Add(-2*day)),
				"monthly-fresh": root.crl(t, now.Add(-day), now.Add(59*day)),
			},
		}, []string{
			`pki crl stale: CRL of "CN=root" out of date since 2027-02-27 12:00 UTC`,
			`pki crl weekly-late: CRL of "CN=root" next update due 2027-03-03 12:00 UTC (in 2 days)`,
		}},
		{"unreadable entries", model.PKI{
			Certificates: map[string]string{"bad": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
			CRLs:         map[string]string{"badcrl": "junk"},
		}, []string{
			"pki certificate bad: does not parse: parse certificate 1: x509: malformed certificate",
			"pki crl badcrl: does not parse: parse CRL: x509: malformed crl",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Expiring(&model.Config{PKI: tt.pki}, now, WarnBefore)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Expiring =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	if got := Expiring(nil, now, WarnBefore); got != nil {
		t.Errorf("Expiring(nil) = %q", got)
	}
}

func TestDaysLeft(t *testing.T) {
	tests := []struct {
		left time.Duration
		want int
	}{
		{0, 0}, {23 * time.Hour, 0}, {day, 1}, {30*day + time.Hour, 30}, {-time.Hour, -1}, {-day, -1}, {-day - time.Second, -2},
	}
	for _, tt := range tests {
		if got := DaysLeft(now.Add(tt.left), now); got != tt.want {
			t.Errorf("DaysLeft(now%+v) = %d, want %d", tt.left, got, tt.want)
		}
	}
}
