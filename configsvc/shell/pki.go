package shell

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/pki"
)

// The pki commands change the config only through an edit session of
// their own and one commit, so an import lands whole or not at all; all
// checks run before the first set.

// keyTypes are the key types pki generate key makes, the default first.
var keyTypes = pki.BoardKeyTypes

// checkName applies the config's rule for entry names, so a bad name is
// refused before a key is generated or a paste is read.
func checkName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64 && name[0] != '.' && name[0] != '-' && name[0] != '_'
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}
	if !ok {
		return fmt.Errorf("name %q: must be 1..64 letters, digits, '.', '-' or '_' starting with a letter or digit", name)
	}
	return nil
}

// commitPKI opens an edit session on the running config, lets plan check
// the config and return the set commands, applies them and commits them
// as one revision. The session is closed in every case, so a refused
// import leaves nothing behind.
func (sh *Shell) commitPKI(comment string, plan func(cfg *model.Config) ([][]string, error)) (uint64, error) {
	ctx, cancel := sh.ctx()
	s, err := sh.env.Client.OpenSession(ctx)
	cancel()
	if err != nil {
		return 0, err
	}
	defer func() {
		ctx, cancel := sh.ctx()
		defer cancel()
		s.Close(ctx)
	}()
	ctx, cancel = sh.ctx()
	cfg, err := s.Candidate(ctx)
	cancel()
	if err != nil {
		return 0, err
	}
	sets, err := plan(cfg)
	if err != nil {
		return 0, err
	}
	for _, words := range sets {
		ctx, cancel := sh.ctx()
		err := s.Set(ctx, words)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("set %s %s: %w", words[0], words[1], err)
		}
	}
	ctx, cancel = sh.ctx()
	defer cancel()
	return s.Commit(ctx, comment)
}

// pkiGenerateKey is `pki generate key NAME [TYPE]`.
func (sh *Shell) pkiGenerateKey(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("usage: pki generate key <name> [%s]", strings.Join(keyTypes, "|"))
	}
	name, typ := args[0], keyTypes[0]
	if len(args) == 2 {
		typ = args[1]
	}
	if err := checkName(name); err != nil {
		return fmt.Errorf("pki generate key: %w", err)
	}
	if !slices.Contains(keyTypes, typ) {
		return fmt.Errorf("pki generate key: key type %q: must be one of %s", typ, strings.Join(keyTypes, ", "))
	}
	rev, err := sh.commitPKI("pki generate key "+name, func(cfg *model.Config) ([][]string, error) {
		if _, ok := cfg.PKI.Keys[name]; ok {
			return nil, fmt.Errorf("pki key %s exists: choose another name (or delete it in configure mode)", name)
		}
		key, err := pki.GenerateKey(typ)
		if err != nil {
			return nil, fmt.Errorf("generating %s key: %w", typ, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encoding %s key: %w", typ, err)
		}
		return [][]string{{"pki", "key", name, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}}, nil
	})
	if err != nil {
		return fmt.Errorf("pki generate key %s: %w", name, err)
	}
	fmt.Fprintf(sh.out, "generated %s key %s; committed revision %d\n", typ, name, rev)
	return nil
}

// csrOptions are the optional words of pki request.
type csrOptions struct {
	cn    string
	dns   []string
	ips   []net.IP
	hasCN bool
}

func parseCSROptions(args []string) (csrOptions, error) {
	var o csrOptions
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return o, fmt.Errorf("%s needs a value", args[i])
		}
		v := args[i+1]
		switch args[i] {
		case "cn":
			if !validFQDN(v) {
				return o, fmt.Errorf("cn %q: must be a host name (FQDN)", v)
			}
			o.cn, o.hasCN = v, true
		case "san-dns":
			if !validFQDN(v) {
				return o, fmt.Errorf("san-dns %q: must be a host name (FQDN)", v)
			}
			o.dns = append(o.dns, v)
		case "san-ip":
			ip := net.ParseIP(v)
			if ip == nil {
				return o, fmt.Errorf("san-ip %q: must be an IPv4 or IPv6 address", v)
			}
			o.ips = append(o.ips, ip)
		default:
			return o, fmt.Errorf("unknown option %q: expected cn, san-dns or san-ip", args[i])
		}
	}
	return o, nil
}

func validFQDN(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// pkiRequest is `pki request NAME [cn FQDN] [san-dns X]... [san-ip A]...`:
// a CSR for the board's key NAME, printed as PEM only, to be copied.
func (sh *Shell) pkiRequest(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: pki request <key> [cn <fqdn>] [san-dns <name>]... [san-ip <address>]...")
	}
	name := args[0]
	opts, err := parseCSROptions(args[1:])
	if err != nil {
		return fmt.Errorf("pki request %s: %w", name, err)
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return err
	}
	text, ok := snap.Config.PKI.Keys[name]
	if !ok {
		return fmt.Errorf("pki request: no pki key %q (pki generate key %s first)", name, name)
	}
	key, err := pki.ParsePrivateKey([]byte(text))
	if err != nil {
		return fmt.Errorf("pki request: pki key %s: %w", name, err)
	}
	if !opts.hasCN {
		opts.cn = snap.Config.System.EffectiveHostname()
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: opts.cn}, DNSNames: opts.dns, IPAddresses: opts.ips}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return fmt.Errorf("pki request %s: signing the request: %w", name, err)
	}
	sh.out.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	return nil
}

func (sh *Shell) now() time.Time { return sh.env.Now() }

// importArgs checks the one NAME argument of the import commands.
func importArgs(what string, args []string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("usage: pki import %s <name>", what)
	}
	if err := checkName(args[0]); err != nil {
		return "", fmt.Errorf("pki import %s: %w", what, err)
	}
	return args[0], nil
}

// pkiImportCertificate is `pki import certificate NAME`. When ipsec
// certificate is unset it also makes the new certificate and its key the
// board's IKE credentials.
func (sh *Shell) pkiImportCertificate(args []string) error {
	name, err := importArgs("certificate", args)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("pki import certificate %s: %w", name, err) }
	text, err := sh.readPaste("certificate")
	if err != nil {
		return fail(err)
	}
	cert, err := parsePastedCertificate(text)
	if err != nil {
		return fail(err)
	}
	var note string
	rev, err := sh.commitPKI("pki import certificate "+name, func(cfg *model.Config) ([][]string, error) {
		if _, ok := cfg.PKI.Certificates[name]; ok {
			return nil, fmt.Errorf("pki certificate %s exists: choose another name", name)
		}
		key, err := checkCertificate(cfg, cert, sh.now())
		if err != nil {
			return nil, err
		}
		sets := [][]string{{"pki", "certificate", name, string(pki.EncodeCertificatePEM(cert))}}
		if cfg.IPsec.Certificate == "" && (cfg.IPsec.Key == "" || cfg.IPsec.Key == key) {
			sets = append(sets, []string{"ipsec", "key", key}, []string{"ipsec", "certificate", name})
			note = fmt.Sprintf("; ipsec key %s, ipsec certificate %s", key, name)
		}
		return sets, nil
	})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(sh.out, "stored pki certificate %s (%s, until %s)%s; committed revision %d\n",
		name, pki.DNString(cert.RawSubject), cert.NotAfter.UTC().Format(dateFormat), note, rev)
	return nil
}

// pkiImportCA is `pki import ca NAME`; the CA is also added to ipsec
// ca-certificate, the list ikesvc trusts, as the host tool's bundles do.
func (sh *Shell) pkiImportCA(args []string) error {
	name, err := importArgs("ca", args)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("pki import ca %s: %w", name, err) }
	text, err := sh.readPaste("CA certificate")
	if err != nil {
		return fail(err)
	}
	ca, err := parsePastedCertificate(text)
	if err != nil {
		return fail(err)
	}
	rev, err := sh.commitPKI("pki import ca "+name, func(cfg *model.Config) ([][]string, error) {
		if _, ok := cfg.PKI.CACertificates[name]; ok {
			return nil, fmt.Errorf("pki ca-certificate %s exists: choose another name", name)
		}
		if err := checkCA(cfg, ca, sh.now()); err != nil {
			return nil, err
		}
		sets := [][]string{{"pki", "ca-certificate", name, string(pki.EncodeCertificatePEM(ca))}}
		if !slices.Contains(cfg.IPsec.CACertificates, name) {
			sets = append(sets, []string{"ipsec", "ca-certificate", name})
		}
		return sets, nil
	})
	if err != nil {
		return fail(err)
	}
	kind := "intermediate CA"
	if selfSigned(ca) {
		kind = "root CA"
	}
	fmt.Fprintf(sh.out, "stored pki ca-certificate %s (%s %s, until %s), trusted in ipsec ca-certificate; committed revision %d\n",
		name, kind, pki.DNString(ca.RawSubject), ca.NotAfter.UTC().Format(dateFormat), rev)
	return nil
}

// pkiImportCRL is `pki import crl NAME`. An existing NAME is replaced by a
// newer CRL of the same CA (the regular CRL refresh); the CRL is also
// added to ipsec crl.
func (sh *Shell) pkiImportCRL(args []string) error {
	name, err := importArgs("crl", args)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("pki import crl %s: %w", name, err) }
	text, err := sh.readPaste("CRL")
	if err != nil {
		return fail(err)
	}
	crl, err := parsePastedCRL(text)
	if err != nil {
		return fail(err)
	}
	rev, err := sh.commitPKI("pki import crl "+name, func(cfg *model.Config) ([][]string, error) {
		var old *x509.RevocationList
		if stored, ok := cfg.PKI.CRLs[name]; ok {
			if old, err = pki.ParseCRL([]byte(stored)); err != nil {
				return nil, fmt.Errorf("stored pki crl %s: %w", name, err)
			}
		}
		if err := checkCRL(cfg, crl, old, sh.now()); err != nil {
			return nil, err
		}
		sets := [][]string{{"pki", "crl", name, string(pki.EncodeCRLPEM(crl))}}
		if !slices.Contains(cfg.IPsec.CRLs, name) {
			sets = append(sets, []string{"ipsec", "crl", name})
		}
		return sets, nil
	})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(sh.out, "stored pki crl %s (%s, %d revoked, next update %s), used in ipsec crl; committed revision %d\n",
		name, pki.DNString(crl.RawIssuer), len(crl.RevokedCertificateEntries), formatDate(crl.NextUpdate), rev)
	return nil
}
