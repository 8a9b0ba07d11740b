package interop

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"alixsec.dev/ikesvc/pki"
)

// The test PKI's names. Every host certificate's subject is the issuing
// intermediate's with CN=HOST (alixca's rule), so HostPattern admits every
// host of either CA and trust alone decides.
const (
	RootSubject        = "C=CH, O=alixsec interop, CN=Interop Root CA"
	ForeignRootSubject = "C=CH, O=alixsec interop, CN=Foreign Root CA"
	HostPattern        = "C=CH, O=alixsec interop, CN=*"
)

// Host names in the test PKI.
const (
	HostMoon     = "moon"     // ECDSA P-256, main CA
	HostSun      = "sun"      // ECDSA P-256, main CA
	HostMoonRSA  = "moon-rsa" // RSA 2048, main CA
	HostSunRSA   = "sun-rsa"  // RSA 2048, main CA
	HostRevoked  = "revoked"  // ECDSA P-256, main CA, revoked (in the intermediate's CRL)
	HostStranger = "stranger" // ECDSA P-256, issued by the foreign (unknown) CA
)

// NamedPEM is one PEM file with the name it goes by (file stem, and the
// name in ikesvc's `set pki ...` lines).
type NamedPEM struct {
	Name string
	PEM  []byte
}

// HostCreds are one host's certificate and key as alixca issued them, and
// the `set` lines of its alixca bundle (empty for a revoked host: alixca
// refuses to bundle those).
type HostCreds struct {
	Name      string
	ID        string // subject DN in configsvc's canonical form
	Cert, Key []byte
	ConfigSet string
}

// CA is one alixca directory: a root, an intermediate and their CRLs.
type CA struct {
	Dir          string
	Root         NamedPEM // root-ca.crt
	Intermediate NamedPEM // intermediate-ca.crt
	CRLs         []NamedPEM
}

// PKI is the whole test PKI: the main CA with its hosts and a foreign CA
// that nobody trusts.
type PKI struct {
	Main, Foreign *CA
	Hosts         map[string]*HostCreds
}

// CAs returns the main CA's root and intermediate certificates.
func (p *PKI) CAs() []NamedPEM { return []NamedPEM{p.Main.Root, p.Main.Intermediate} }

// hostSpec says which CA issues a host with which key type.
type hostSpec struct {
	name, key string
	foreign   bool
	revoke    bool
}

var testHosts = []hostSpec{
	{name: HostMoon, key: "p256"},
	{name: HostSun, key: "p256"},
	{name: HostMoonRSA, key: "rsa2048"},
	{name: HostSunRSA, key: "rsa2048"},
	{name: HostRevoked, key: "p256", revoke: true},
	{name: HostStranger, key: "p256", foreign: true},
}

// NewPKI builds the test PKI under dir with the project's CA tool. alixca
// is built once into dir (same code as `go run ./ikesvc/alixca`, without
// a compile per call). repoRoot is the module root (see RepoRoot).
func NewPKI(ctx context.Context, repoRoot, dir string) (*PKI, error) {
	alixca := filepath.Join(dir, "alixca")
	if _, err := runIn(ctx, repoRoot, "go", "build", "-o", alixca, "./ikesvc/alixca"); err != nil {
		return nil, fmt.Errorf("build alixca: %w", err)
	}
	ca := func(caDir string, args ...string) (string, error) {
		return run(ctx, alixca, append([]string{"-dir", caDir}, args...)...)
	}
	p := &PKI{Hosts: map[string]*HostCreds{}}
	for _, c := range []struct {
		sub, subject string
		dst          **CA
	}{{"main", RootSubject, &p.Main}, {"foreign", ForeignRootSubject, &p.Foreign}} {
		caDir := filepath.Join(dir, c.sub)
		if _, err := ca(caDir, "ca", "init", "-subject", c.subject); err != nil {
			return nil, err
		}
		if _, err := ca(caDir, "ca", "intermediate"); err != nil {
			return nil, err
		}
		*c.dst = &CA{Dir: caDir}
	}
	for _, h := range testHosts {
		caDir := p.Main.Dir
		if h.foreign {
			caDir = p.Foreign.Dir
		}
		if _, err := ca(caDir, "issue", h.name, "-key", h.key); err != nil {
			return nil, err
		}
		if h.revoke {
			if _, err := ca(caDir, "revoke", h.name, "-reason", "keyCompromise"); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range []*CA{p.Main, p.Foreign} {
		if _, err := ca(c.Dir, "crl"); err != nil {
			return nil, err
		}
		if err := c.read(); err != nil {
			return nil, err
		}
	}
	for _, h := range testHosts {
		caDir := p.Main.Dir
		if h.foreign {
			caDir = p.Foreign.Dir
		}
		creds, err := readHost(caDir, h.name)
		if err != nil {
			return nil, err
		}
		if !h.revoke {
			tarFile := filepath.Join(dir, h.name+".tar")
			if _, err := ca(caDir, "bundle", h.name, "-o", tarFile); err != nil {
				return nil, err
			}
			if creds.ConfigSet, err = tarMember(tarFile, "config.set"); err != nil {
				return nil, err
			}
		}
		p.Hosts[h.name] = creds
	}
	return p, nil
}

func (c *CA) read() error {
	var err error
	c.Root.Name, c.Intermediate.Name = "root-ca", "intermediate-ca"
	if c.Root.PEM, err = os.ReadFile(filepath.Join(c.Dir, "root-ca.crt")); err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	if c.Intermediate.PEM, err = os.ReadFile(filepath.Join(c.Dir, "intermediate-ca.crt")); err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	for _, name := range []string{"root-ca", "intermediate-ca"} {
		data, err := os.ReadFile(filepath.Join(c.Dir, name+".crl"))
		if err != nil {
			return fmt.Errorf("read CRL: %w", err)
		}
		c.CRLs = append(c.CRLs, NamedPEM{Name: name, PEM: data})
	}
	return nil
}

func readHost(caDir, name string) (*HostCreds, error) {
	h := &HostCreds{Name: name}
	var err error
	if h.Cert, err = os.ReadFile(filepath.Join(caDir, name+".crt")); err != nil {
		return nil, fmt.Errorf("read host %s: %w", name, err)
	}
	if h.Key, err = os.ReadFile(filepath.Join(caDir, name+".key")); err != nil {
		return nil, fmt.Errorf("read host %s: %w", name, err)
	}
	if h.ID, err = subjectDN(h.Cert); err != nil {
		return nil, fmt.Errorf("read host %s: %w", name, err)
	}
	return h, nil
}

// tarMember returns one member of a tar file as text.
func tarMember(file, member string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("bundle %s has no %s", file, member)
		}
		if err != nil {
			return "", fmt.Errorf("read bundle %s: %w", file, err)
		}
		if hdr.Name == member {
			var b bytes.Buffer
			if _, err := io.Copy(&b, io.LimitReader(tr, 1<<20)); err != nil {
				return "", fmt.Errorf("read %s in %s: %w", member, file, err)
			}
			return b.String(), nil
		}
	}
}

// RepoRoot walks up from the working directory to the directory holding
// go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// runIn runs a command in directory dir.
func runIn(ctx context.Context, dir, name string, args ...string) (string, error) {
	return runCmd(ctx, dir, nil, name, args...)
}

// firstLine returns the first non-empty line of s.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// subjectDN returns a PEM certificate's subject in configsvc's canonical
// DN form ("C=CH, O=..., CN=..."), the form alixca writes as local-id.
func subjectDN(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse certificate: %w", err)
	}
	return pki.DNString(cert.RawSubject), nil
}
