package interop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// BenchSuite is the suite the handshake benchmark compares: ECDSA P-256
// certificates (moon/sun) with X25519.
const (
	BenchIKEProposal = "aes128gcm16-prfsha256-x25519"
	BenchESPProposal = "aes128gcm16"
)

// Responder is a charon responder in its own namespace, ready for an
// initiator load driven from the other end of the pair (Pair.A).
type Responder struct {
	Pair   *Pair
	Charon *Charon
	Addr   netip.Addr // where to send IKE (UDP 500 on Pair.B)
	PKI    *PKI       // the initiator authenticates as any main-CA host, e.g. HostMoon
	dir    string
	owned  bool // dir was made by StartCharonResponder
}

// StartCharonResponder builds a namespace pair, a test PKI (under dir, or
// a new temporary directory when dir is empty) and a charon responder on
// Pair.B that accepts every host of the main CA with BenchIKEProposal /
// BenchESPProposal, and returns its address. The initiator runs in
// Pair.A.NS. Close removes everything.
func StartCharonResponder(ctx context.Context, repoRoot, dir string, ipv6 bool) (_ *Responder, err error) {
	r := &Responder{dir: dir}
	if dir == "" {
		if r.dir, err = os.MkdirTemp("", "interop-bench-"); err != nil {
			return nil, fmt.Errorf("bench responder: %w", err)
		}
		r.owned = true
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Close())
		}
	}()
	if r.PKI, err = NewPKI(ctx, repoRoot, filepath.Join(r.dir, "pki")); err != nil {
		return r, err
	}
	if r.Pair, err = NewPair(ctx, "load", HostSun); err != nil {
		return r, err
	}
	r.Addr = r.Pair.B.Addr(ipv6)
	opts := CharonOptions{Quiet: true, NoDoSProtection: true}
	if r.Charon, err = StartCharonWith(ctx, r.Pair.B, filepath.Join(r.dir, "charon"), opts); err != nil {
		return r, err
	}
	sun := r.PKI.Hosts[HostSun]
	if err = r.Charon.Install(sun, r.PKI.CAs(), r.PKI.Main.CRLs); err != nil {
		return r, err
	}
	err = r.Charon.Configure(ctx, Conn{
		Name:       "bench",
		LocalAddr:  r.Addr.String(),
		Proposals:  BenchIKEProposal,
		ESP:        BenchESPProposal,
		LocalCert:  sun.Name + ".crt",
		LocalID:    sun.ID,
		RemoteID:   HostPattern,
		Revocation: "relaxed",
	})
	return r, err
}

// Close stops charon and removes the namespaces (and the directory when
// StartCharonResponder made it).
func (r *Responder) Close() error {
	var errs []error
	if r.Charon != nil {
		errs = append(errs, r.Charon.Stop())
	}
	if r.Pair != nil {
		errs = append(errs, r.Pair.Close())
	}
	if r.owned {
		errs = append(errs, os.RemoveAll(r.dir))
	}
	return errors.Join(errs...)
}
