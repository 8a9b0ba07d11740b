package interop

import (
	"context"
	"fmt"
	"path/filepath"
)

// NewKeyPKI builds a one-CA test PKI with the project's CA tool in which
// the root, the intermediate and every host have a key of one type
// (alixca's -key: rsa3072, rsa4096, ...), for tests about large
// certificate chains. Names and subjects are the main test PKI's, so
// HostPattern admits the hosts; Foreign is nil. Keys are made here on the
// host, where RSA key generation takes a second rather than minutes.
func NewKeyPKI(ctx context.Context, repoRoot, dir, key string, hosts ...string) (*PKI, error) {
	alixca := filepath.Join(dir, "alixca")
	if _, err := runIn(ctx, repoRoot, "go", "build", "-o", alixca, "./ikesvc/alixca"); err != nil {
		return nil, fmt.Errorf("build alixca: %w", err)
	}
	caDir := filepath.Join(dir, "ca")
	ca := func(args ...string) error {
		_, err := run(ctx, alixca, append([]string{"-dir", caDir}, args...)...)
		return err
	}
	if err := ca("ca", "init", "-subject", RootSubject, "-key", key); err != nil {
		return nil, err
	}
	if err := ca("ca", "intermediate", "-key", key); err != nil {
		return nil, err
	}
	for _, h := range hosts {
		if err := ca("issue", h, "-key", key); err != nil {
			return nil, err
		}
	}
	if err := ca("crl"); err != nil {
		return nil, err
	}
	p := &PKI{Main: &CA{Dir: caDir}, Hosts: map[string]*HostCreds{}}
	if err := p.Main.read(); err != nil {
		return nil, err
	}
	for _, h := range hosts {
		creds, err := readHost(caDir, h)
		if err != nil {
			return nil, err
		}
		tarFile := filepath.Join(dir, h+".tar")
		if err := ca("bundle", h, "-o", tarFile); err != nil {
			return nil, err
		}
		if creds.ConfigSet, err = tarMember(tarFile, "config.set"); err != nil {
			return nil, err
		}
		p.Hosts[h] = creds
	}
	return p, nil
}
