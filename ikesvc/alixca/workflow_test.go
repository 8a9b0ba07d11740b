package main

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/pki"
)

var testClock = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// alixca runs one command against dir and returns its output.
func alixca(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(append([]string{"-dir", dir}, args...), &out, testClock)
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	return out.String(), err
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := alixca(t, dir, args...)
	if err != nil {
		t.Fatalf("alixca %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func writeCSR(t *testing.T, path, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func readCRL(t *testing.T, path string) *x509.RevocationList {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := pki.ParseCRL(data)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

// setUpCA runs the admin's workflow: root, intermediate, three hosts (a new
// P-256 key, a new RSA key, a CSR), revoke one, publish CRLs.
func setUpCA(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	mustRun(t, dir, "ca", "init", "-subject", "C=JP, O=Example, CN=Example Root CA")
	mustRun(t, dir, "ca", "intermediate")
	mustRun(t, dir, "issue", "gw1.example.net", "-ip", "192.0.2.1,2001:db8::1")
	mustRun(t, dir, "issue", "gw2.example.net", "-key", "rsa2048")
	csr := filepath.Join(t.TempDir(), "gw3.csr")
	writeCSR(t, csr, "gw3.example.net")
	mustRun(t, dir, "issue", "gw3.example.net", "-csr", csr)
	mustRun(t, dir, "revoke", "gw2.example.net", "-reason", "keyCompromise")
	mustRun(t, dir, "crl", "-days", "14")
	return dir
}

func TestWorkflow(t *testing.T) {
	dir := setUpCA(t)
	p := func(name string) string { return filepath.Join(dir, name) }

	t.Run("files and modes", func(t *testing.T) {
		for name, mode := range map[string]os.FileMode{
			"root-ca.key": 0o600, "intermediate-ca.key": 0o600, "gw1.example.net.key": 0o600, "gw2.example.net.key": 0o600,
			"root-ca.crt": 0o644, "intermediate-ca.crt": 0o644, "gw1.example.net.crt": 0o644, "gw3.example.net.crt": 0o644,
			"gw3.example.net.csr": 0o644, "root-ca.crl": 0o644, "intermediate-ca.crl": 0o644, "index.txt": 0o644,
		} {
			info, err := os.Stat(p(name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if info.Mode().Perm() != mode {
				t.Errorf("%s has mode %v, want %v", name, info.Mode().Perm(), mode)
			}
		}
		if _, err := os.Stat(p("gw3.example.net.key")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("gw3 (from a CSR) has a key file: %v", err)
		}
		archived, _ := filepath.Glob(p("certs/*.crt"))
		if len(archived) != 5 {
			t.Errorf("%d archived certificates, want 5", len(archived))
		}
	})

	t.Run("certificate contents", func(t *testing.T) {
		root, inter, gw1 := readCert(t, p("root-ca.crt")), readCert(t, p("intermediate-ca.crt")), readCert(t, p("gw1.example.net.crt"))
		if !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
			t.Errorf("intermediate: CA %v path length %d zero %v", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
		}
		if !root.IsCA || root.MaxPathLen != -1 {
			t.Errorf("root: CA %v path length %d", root.IsCA, root.MaxPathLen)
		}
		if got := pki.DNString(gw1.RawSubject); got != "C=JP, O=Example, CN=gw1.example.net" {
			t.Errorf("gw1 subject %q", got)
		}
		if got := pki.DNString(inter.RawSubject); got != "C=JP, O=Example, CN=Example Intermediate CA" {
			t.Errorf("intermediate subject %q", got)
		}
		if len(gw1.DNSNames) != 1 || gw1.DNSNames[0] != "gw1.example.net" || len(gw1.IPAddresses) != 2 {
			t.Errorf("gw1 SAN: %v %v", gw1.DNSNames, gw1.IPAddresses)
		}
		if _, ok := readCert(t, p("gw1.example.net.crt")).PublicKey.(*ecdsa.PublicKey); !ok {
			t.Error("gw1 key is not ECDSA")
		}
		pattern, _ := pki.ParseDNPattern("C=JP, O=Example, CN=*")
		if !pattern.MatchDER(gw1.RawSubject) {
			t.Error("DN pattern does not admit gw1")
		}
	})

	t.Run("index is auditable", func(t *testing.T) {
		data, err := os.ReadFile(p("index.txt"))
		if err != nil {
			t.Fatal(err)
		}
		gw2 := readCert(t, p("gw2.example.net.crt"))
		var line string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, strings.ToUpper(gw2.SerialNumber.Text(16))+"\t") {
				line = l
			}
		}
		for _, want := range []string{"\trevoked\t", "\tkeyCompromise\t", "\tintermediate-ca\tgw2.example.net\t", "CN=gw2.example.net"} {
			if !strings.Contains(line, want) {
				t.Errorf("gw2 index line %q lacks %q", line, want)
			}
		}
		list := mustRun(t, dir, "list")
		if n := strings.Count(list, "\n"); n != 6 {
			t.Errorf("list has %d lines:\n%s", n, list)
		}
	})

	t.Run("CRLs", func(t *testing.T) {
		interCRL, rootCRL := readCRL(t, p("intermediate-ca.crl")), readCRL(t, p("root-ca.crl"))
		gw2 := readCert(t, p("gw2.example.net.crt"))
		if len(interCRL.RevokedCertificateEntries) != 1 || interCRL.RevokedCertificateEntries[0].SerialNumber.Cmp(gw2.SerialNumber) != 0 ||
			interCRL.RevokedCertificateEntries[0].ReasonCode != 1 {
			t.Errorf("intermediate CRL entries %+v", interCRL.RevokedCertificateEntries)
		}
		if len(rootCRL.RevokedCertificateEntries) != 0 {
			t.Errorf("root CRL entries %+v", rootCRL.RevokedCertificateEntries)
		}
		if want := testClock.AddDate(0, 0, 14); !interCRL.NextUpdate.Equal(want) {
			t.Errorf("next update %v, want %v", interCRL.NextUpdate, want)
		}
		mustRun(t, dir, "crl")
		if n := readCRL(t, p("intermediate-ca.crl")).Number.Int64(); n != 2 {
			t.Errorf("second CRL has number %d, want 2", n)
		}
	})

	t.Run("pki.Verify", func(t *testing.T) {
		ts, err := pki.NewTrustStore(pki.TrustConfig{
			Roots:         []*x509.Certificate{readCert(t, p("root-ca.crt"))},
			CRLs:          []*x509.RevocationList{readCRL(t, p("intermediate-ca.crl")), readCRL(t, p("root-ca.crl"))},
			Intermediates: []*x509.Certificate{readCert(t, p("intermediate-ca.crt"))},
			CRLPolicy:     pki.CRLStrict,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{"gw1.example.net", "gw3.example.net"} {
			if _, err := ts.Verify(readCert(t, p(host+".crt")), nil, testClock.Add(time.Hour)); err != nil {
				t.Errorf("%s: %v", host, err)
			}
		}
		if _, err := ts.Verify(readCert(t, p("gw2.example.net.crt")), nil, testClock.Add(time.Hour)); !errors.Is(err, pki.ErrRevoked) {
			t.Errorf("revoked gw2: %v", err)
		}
	})

	t.Run("openssl verify -crl_check", func(t *testing.T) {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Skip("openssl binary not installed")
		}
		chain := filepath.Join(t.TempDir(), "chain.pem")
		root, _ := os.ReadFile(p("root-ca.crt"))
		inter, _ := os.ReadFile(p("intermediate-ca.crt"))
		if err := os.WriteFile(chain, append(root, inter...), 0o644); err != nil {
			t.Fatal(err)
		}
		// The certificates are dated by testClock; -attime checks them then.
		at := testClock.Add(time.Hour).Unix()
		for _, c := range []struct {
			host, check string
			ok          bool
		}{
			{"gw1.example.net", "-crl_check", true},
			{"gw1.example.net", "-crl_check_all", true},
			{"gw3.example.net", "-crl_check_all", true},
			{"gw2.example.net", "-crl_check", false},
			{"gw2.example.net", "-crl_check_all", false},
		} {
			cmd := exec.Command(openssl, "verify", c.check, "-attime", strconv.FormatInt(at, 10), "-CAfile", chain,
				"-CRLfile", p("intermediate-ca.crl"), "-CRLfile", p("root-ca.crl"), p(c.host+".crt"))
			out, err := cmd.CombinedOutput()
			if (err == nil) != c.ok {
				t.Errorf("openssl verify %s %s: %v\n%s", c.check, c.host, err, out)
			}
			if !c.ok && !strings.Contains(string(out), "certificate revoked") {
				t.Errorf("openssl on %s: %s", c.host, out)
			}
		}
	})
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

func TestBundle(t *testing.T) {
	dir := setUpCA(t)
	caKeys := map[string][]byte{}
	for _, name := range []string{"root-ca.key", "intermediate-ca.key"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		caKeys[name] = data
	}
	cases := []struct {
		name     string
		args     []string
		wantKey  bool
		wantMode os.FileMode
	}{
		{"generated key", []string{"gw1.example.net"}, true, 0o600},
		{"-no-key", []string{"gw1.example.net", "-no-key"}, false, 0o644},
		{"from CSR", []string{"gw3.example.net"}, false, 0o644},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "b.tar")
			mustRun(t, dir, append([]string{"bundle"}, append(c.args, "-o", out)...)...)
			info, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != c.wantMode {
				t.Errorf("bundle mode %v, want %v", info.Mode().Perm(), c.wantMode)
			}
			files := readTar(t, out)
			host := c.args[0]
			for _, want := range []string{host + ".crt", "root-ca.crt", "intermediate-ca.crt", "root-ca.crl", "intermediate-ca.crl", "config.set"} {
				if files[want] == nil {
					t.Errorf("bundle lacks %s", want)
				}
			}
			if _, has := files[host+".key"]; has != c.wantKey {
				t.Errorf("bundle has host key: %v, want %v", has, c.wantKey)
			}
			// Never a CA key: not by name, not by content, not inside config.set.
			for name, data := range files {
				if strings.HasSuffix(name, "-ca.key") {
					t.Errorf("bundle holds %s", name)
				}
				for caName, key := range caKeys {
					block, _ := pem.Decode(key)
					b64 := strings.Split(string(pem.EncodeToMemory(block)), "\n")[1]
					if bytes.Contains(data, key) || strings.Contains(string(data), b64) {
						t.Errorf("%s in the bundle contains %s", name, caName)
					}
				}
			}
			set := string(files["config.set"])
			cfg, err := settext.Parse(strings.NewReader(set))
			if err != nil {
				t.Fatalf("config.set does not parse: %v\n%s", err, set)
			}
			// Without the key, the certificate stays out of config.set: the
			// board makes its own key and imports the certificate from its CSR.
			wantCert := ""
			if c.wantKey {
				wantCert = host
			}
			if cfg.IPsec.Certificate != wantCert || cfg.IPsec.LocalID != "C=JP, O=Example, CN="+host || len(cfg.PKI.CACertificates) != 2 || len(cfg.PKI.CRLs) != 2 {
				t.Errorf("config.set: %+v", cfg.IPsec)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("config.set does not validate (a preseed must): %v", err)
			}
			if (cfg.IPsec.Key != "") != c.wantKey || (len(cfg.PKI.Keys) == 1) != c.wantKey {
				t.Errorf("config.set key: ipsec key %q, %d pki keys", cfg.IPsec.Key, len(cfg.PKI.Keys))
			}
		})
	}
	if _, err := alixca(t, dir, "bundle", "gw2.example.net", "-o", filepath.Join(t.TempDir(), "x.tar")); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("bundle of a revoked host: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	dir := setUpCA(t)
	other := filepath.Join(t.TempDir(), "other")
	mustRun(t, other, "ca", "init", "-subject", "C=JP, O=Example, CN=Example Root CA")
	mustRun(t, other, "ca", "intermediate")
	mustRun(t, other, "crl")

	garbled := filepath.Join(t.TempDir(), "garbled.csr")
	os.WriteFile(garbled, []byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n"), 0o644)
	truncated := filepath.Join(t.TempDir(), "truncated.csr")
	writeCSR(t, truncated, "gw5.example.net")
	data, _ := os.ReadFile(truncated)
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	wrongCN := filepath.Join(t.TempDir(), "wrong.csr")
	writeCSR(t, wrongCN, "other.example.net")

	// A CRL of the other CA (same names, other keys) dropped into dir.
	foreignCRL := func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(other, "intermediate-ca.crl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "intermediate-ca.crl"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T)
		args  []string
		want  string
	}{
		{"issue twice", nil, []string{"issue", "gw1.example.net"}, "issue gw1.example.net: certificate already exists (revoke it first or use -force)"},
		{"garbled CSR", nil, []string{"issue", "gw5.example.net", "-csr", garbled}, "issue gw5.example.net: -csr " + garbled + ": garbled request"},
		{"truncated CSR", nil, []string{"issue", "gw5.example.net", "-csr", truncated}, "no PEM CERTIFICATE REQUEST block (truncated or garbled?)"},
		{"CSR for another host", nil, []string{"issue", "gw5.example.net", "-csr", wrongCN}, "request is for CN=other.example.net, not gw5.example.net"},
		{"bad host name", nil, []string{"issue", "../etc"}, "issue ../etc: not a host name"},
		{"bad IP", nil, []string{"issue", "gw6.example.net", "-ip", "300.1.1.1"}, `-ip "300.1.1.1": not an IP address`},
		{"unknown key type", nil, []string{"issue", "gw6.example.net", "-key", "dsa"}, `unknown key type "dsa"`},
		{"revoke unknown host", nil, []string{"revoke", "gw9.example.net"}, "revoke gw9.example.net: no certificate with that name or serial in index.txt"},
		{"revoke twice", nil, []string{"revoke", "gw2.example.net"}, "revoke gw2.example.net: already revoked"},
		{"bad reason", nil, []string{"revoke", "gw1.example.net", "-reason", "bored"}, `-reason "bored": not a revocation reason`},
		{"show a key", nil, []string{"show", "root-ca.key"}, "private keys are never printed"},
		{"CRL from another CA: show", foreignCRL, []string{"show", "intermediate-ca.crl"}, "intermediate-ca.crl is not signed by intermediate-ca (a CRL from another CA?)"},
		{"CRL from another CA: bundle", foreignCRL, []string{"bundle", "gw1.example.net", "-o", filepath.Join(t.TempDir(), "b.tar")}, "intermediate-ca.crl is not signed by intermediate-ca"},
		{"CRL from another CA: crl", foreignCRL, []string{"crl"}, "intermediate-ca.crl is not signed by intermediate-ca"},
		{"unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup(t)
			}
			before := dirListing(t, dir)
			out, err := alixca(t, dir, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q (output %q)", err, c.want, out)
			}
			assertUnchanged(t, dir, before)
		})
	}
	t.Run("intermediate revoked", func(t *testing.T) {
		// Recover from the foreign CRL above the way the error says.
		if err := os.Remove(filepath.Join(dir, "intermediate-ca.crl")); err != nil {
			t.Fatal(err)
		}
		mustRun(t, dir, "revoke", "intermediate-ca", "-reason", "cACompromise")
		mustRun(t, dir, "crl")
		rootCRL := readCRL(t, filepath.Join(dir, "root-ca.crl"))
		inter := readCert(t, filepath.Join(dir, "intermediate-ca.crt"))
		if len(rootCRL.RevokedCertificateEntries) != 1 || rootCRL.RevokedCertificateEntries[0].SerialNumber.Cmp(inter.SerialNumber) != 0 {
			t.Fatalf("root CRL entries %+v", rootCRL.RevokedCertificateEntries)
		}
		ts, err := pki.NewTrustStore(pki.TrustConfig{
			Roots: []*x509.Certificate{readCert(t, filepath.Join(dir, "root-ca.crt"))},
			CRLs:  []*x509.RevocationList{rootCRL},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Verify(readCert(t, filepath.Join(dir, "gw1.example.net.crt")), []*x509.Certificate{inter}, testClock.Add(time.Hour)); !errors.Is(err, pki.ErrRevoked) {
			t.Fatalf("gw1 under a revoked intermediate: %v", err)
		}
		if _, err := alixca(t, dir, "issue", "gw7.example.net"); err == nil || !strings.Contains(err.Error(), "intermediate-ca is revoked") {
			t.Fatalf("issue under a revoked intermediate: %v", err)
		}
	})
	t.Run("no CA yet", func(t *testing.T) {
		_, err := alixca(t, filepath.Join(t.TempDir(), "empty"), "issue", "gw1.example.net")
		if err == nil || !strings.Contains(err.Error(), "no intermediate-ca in") {
			t.Fatalf("error %v", err)
		}
	})
}
