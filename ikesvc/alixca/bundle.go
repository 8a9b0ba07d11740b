package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"alixsec.dev/ikesvc/pki"
)

// bundleFile is one member of a preseed tarball.
type bundleFile struct {
	name string
	data []byte
	mode int64
}

// bundle writes HOST's preseed tarball: its certificate, its key (only when
// alixca generated it and -no-key is not given), the CA certificates, the
// current CRLs and config.set. A CA private key never goes in: the member
// list is built from fixed names below, and writeBundle refuses any member
// named like a CA key as a second line of defence.
func (e *env) bundle(args []string) error {
	fs := flag.NewFlagSet("bundle", flag.ContinueOnError)
	out := fs.String("o", "", "output tar file (default HOST.tar in the current directory)")
	noKey := fs.Bool("no-key", false, "leave the host key out (the board keeps or makes its own)")
	host, err := oneArg(fs, args, "HOST")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	fail := func(err error) error { return fmt.Errorf("bundle %s: %w", host, err) }
	if err := checkHostName(host); err != nil {
		return fail(err)
	}
	if *out == "" {
		*out = host + ".tar"
	}
	unlock, err := e.lock()
	if err != nil {
		return fail(err)
	}
	defer unlock()
	files, err := e.bundleFiles(host, *noKey)
	if err != nil {
		return fail(err)
	}
	if err := writeBundle(*out, files, e.now); err != nil {
		return fail(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.name)
	}
	fmt.Fprintf(e.out, "wrote %s: %s\n", *out, strings.Join(names, ", "))
	return nil
}

func (e *env) bundleFiles(host string, noKey bool) ([]bundleFile, error) {
	entries, err := readIndex(e.dir)
	if err != nil {
		return nil, err
	}
	var entry *indexEntry
	for i := range entries {
		if entries[i].Name == host {
			entry = &entries[i]
		}
	}
	if entry == nil {
		return nil, fmt.Errorf("no certificate for %s in %s (run `alixca issue %s` first)", host, indexFile, host)
	}
	cert, err := e.loadCert(host)
	if err != nil {
		return nil, err
	}
	if cert.SerialNumber.Cmp(entry.Serial) != 0 {
		return nil, fmt.Errorf("%s.crt is not the latest certificate in %s", host, indexFile)
	}
	if entry.Status == statusRevoked {
		return nil, fmt.Errorf("certificate serial %s is revoked; issue a new one", entry.serialHex())
	}
	root, err := e.loadCert(rootName)
	if err != nil {
		return nil, err
	}
	inter, err := e.loadCert(interName)
	if err != nil {
		return nil, err
	}

	// The bundle must verify on the board as it stands: check the chain
	// and the CRLs with the same code the board runs.
	var crls []*x509.RevocationList
	crlFiles := map[string]*x509.RevocationList{}
	for _, ca := range []struct {
		name string
		cert *x509.Certificate
	}{{rootName, root}, {interName, inter}} {
		crl, err := e.loadCRL(ca.name, ca.cert)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		crls = append(crls, crl)
		crlFiles[ca.name] = crl
	}
	ts, err := pki.NewTrustStore(pki.TrustConfig{
		Roots: []*x509.Certificate{root}, Intermediates: []*x509.Certificate{inter}, CRLs: crls,
	})
	if err != nil {
		return nil, err
	}
	if _, err := ts.Verify(cert, nil, e.now); err != nil {
		return nil, err
	}

	cfg := bundleConfig{host: host, cert: cert, root: root, inter: inter, crls: crlFiles}
	files := []bundleFile{{host + ".crt", pki.EncodeCertificatePEM(cert), 0o644}}
	if entry.Key == keyGenerated && !noKey {
		keyPEM, err := os.ReadFile(e.path(host + ".key"))
		if err != nil {
			return nil, fmt.Errorf("read %s.key: %w", host, err)
		}
		key, err := pki.ParsePrivateKey(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s.key: %w", host, err)
		}
		if !samePublicKey(key.Public(), cert.PublicKey) {
			return nil, fmt.Errorf("%s.key does not match %s.crt", host, host)
		}
		files = append(files, bundleFile{host + ".key", keyPEM, 0o600})
		cfg.key = keyPEM
	}
	files = append(files,
		bundleFile{interName + ".crt", pki.EncodeCertificatePEM(inter), 0o644},
		bundleFile{rootName + ".crt", pki.EncodeCertificatePEM(root), 0o644})
	for _, name := range []string{rootName, interName} {
		if crl := crlFiles[name]; crl != nil {
			files = append(files, bundleFile{name + ".crl", pki.EncodeCRLPEM(crl), 0o644})
		}
	}
	set, err := cfg.setLines()
	if err != nil {
		return nil, fmt.Errorf("config.set: %w", err)
	}
	return append(files, bundleFile{"config.set", set, 0o644}), nil
}

// writeBundle writes the tarball atomically (temp file + rename), 0600 when
// it holds a private key.
func writeBundle(out string, files []bundleFile, modTime time.Time) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mode := os.FileMode(0o644)
	for _, f := range files {
		if f.name == rootName+".key" || f.name == interName+".key" || strings.HasSuffix(f.name, "-ca.key") {
			return fmt.Errorf("refusing to put CA key %s in a bundle", f.name)
		}
		if f.mode == 0o600 {
			mode = 0o600
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: modTime.Truncate(time.Second), Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("tar %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	t := tx{dir: filepath.Dir(abs)}
	t.write(filepath.Base(abs), buf.Bytes(), mode)
	return t.commit()
}
