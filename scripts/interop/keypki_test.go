package interop

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestNewKeyPKI(t *testing.T) {
	if testing.Short() {
		t.Skip("generates RSA-3072 keys")
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := NewKeyPKI(ctx, root, t.TempDir(), "rsa3072", HostMoon, HostSun)
	if err != nil {
		t.Fatal(err)
	}
	for _, certPEM := range [][]byte{p.Main.Root.PEM, p.Main.Intermediate.PEM, p.Hosts[HostMoon].Cert, p.Hosts[HostSun].Cert} {
		block, _ := pem.Decode(certPEM)
		if block == nil {
			t.Fatal("no PEM certificate")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		k, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || k.N.BitLen() != 3072 {
			t.Errorf("%s: key %T, want RSA-3072", cert.Subject, cert.PublicKey)
		}
	}
	for _, h := range []string{HostMoon, HostSun} {
		c := p.Hosts[h]
		if !strings.Contains(c.ConfigSet, "set pki key "+h+" ") || !strings.HasSuffix(c.ID, "CN="+h) {
			t.Errorf("%s: bundle lacks its key or identity %q:\n%.300s", h, c.ID, c.ConfigSet)
		}
	}
}
