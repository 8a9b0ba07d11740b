package interop

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Conn is one swanctl.conf connection with one CHILD_SA of the same name,
// authenticated with certificates on both sides.
type Conn struct {
	Name        string
	LocalAddr   string // local_addrs; empty means %any
	RemoteAddr  string // remote_addrs; empty means %any (responder only)
	Proposals   string // IKE proposals, strongSwan syntax; empty: "default"
	ESP         string // ESP proposals; empty: "default"
	LocalCert   string // file name under x509/
	LocalID     string // our identity (e.g. the certificate's subject DN)
	RemoteID    string // peer identity; a DN may use CN=* wildcards; empty: %any
	Revocation  string // remote revocation policy: "", "relaxed" or "strict"
	Mode        string // CHILD_SA mode; empty: tunnel
	LocalTS     string // empty: dynamic (our own address)
	RemoteTS    string // empty: dynamic (the peer's address)
	StartAction string // empty: none (tests initiate explicitly)
}

// SwanctlConf renders conns as swanctl.conf, one setting per line.
func SwanctlConf(conns ...Conn) (string, error) {
	var b strings.Builder
	b.WriteString("connections {\n")
	for _, c := range conns {
		if c.Name == "" || strings.ContainsAny(c.Name, " {}=\n") {
			return "", fmt.Errorf("swanctl connection name %q: want a single word", c.Name)
		}
		if c.LocalCert == "" || c.LocalID == "" {
			return "", fmt.Errorf("swanctl connection %s: needs LocalCert and LocalID", c.Name)
		}
		fmt.Fprintf(&b, "\t%s {\n", c.Name)
		line(&b, 2, "version", "2")
		line(&b, 2, "local_addrs", or(c.LocalAddr, "%any"))
		line(&b, 2, "remote_addrs", or(c.RemoteAddr, "%any"))
		line(&b, 2, "proposals", or(c.Proposals, "default"))
		// Tests must fail fast: no retransmission ladder of minutes.
		line(&b, 2, "keyingtries", "1")
		b.WriteString("\t\tlocal {\n")
		line(&b, 3, "auth", "pubkey")
		line(&b, 3, "certs", c.LocalCert)
		line(&b, 3, "id", quote(c.LocalID))
		b.WriteString("\t\t}\n\t\tremote {\n")
		line(&b, 3, "auth", "pubkey")
		line(&b, 3, "id", quote(or(c.RemoteID, "%any")))
		if c.Revocation != "" {
			line(&b, 3, "revocation", c.Revocation)
		}
		b.WriteString("\t\t}\n\t\tchildren {\n")
		fmt.Fprintf(&b, "\t\t\t%s {\n", c.Name)
		line(&b, 4, "mode", or(c.Mode, "tunnel"))
		line(&b, 4, "esp_proposals", or(c.ESP, "default"))
		line(&b, 4, "local_ts", or(c.LocalTS, "dynamic"))
		line(&b, 4, "remote_ts", or(c.RemoteTS, "dynamic"))
		line(&b, 4, "start_action", or(c.StartAction, "none"))
		b.WriteString("\t\t\t}\n\t\t}\n\t}\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func line(b *strings.Builder, indent int, key, value string) {
	fmt.Fprintf(b, "%s%s = %s\n", strings.Repeat("\t", indent), key, value)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// quote wraps a value with blanks or commas (DNs) in double quotes.
func quote(s string) string {
	if strings.ContainsAny(s, " ,=") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

// swanctlSubdirs are the credential directories swanctl --load-all reads.
func swanctlSubdirs(swanctlDir string) []string {
	var dirs []string
	for _, d := range []string{"x509", "x509ca", "x509crl", "private", "rsa", "ecdsa"} {
		dirs = append(dirs, filepath.Join(swanctlDir, d))
	}
	return dirs
}

// Install writes a host's credentials into charon's swanctl directories:
// its certificate (x509/NAME.crt), key (by PEM type: rsa/, ecdsa/ or
// private/ for PKCS#8), the CA certificates (x509ca/) and CRLs (x509crl/).
// Load them (with the connections) through Configure.
func (c *Charon) Install(h *HostCreds, cas []NamedPEM, crls []NamedPEM) error {
	write := func(sub, name string, data []byte) error {
		if err := os.WriteFile(filepath.Join(c.SwanctlDir, sub, name), data, 0o600); err != nil {
			return fmt.Errorf("charon %s: install %s/%s: %w", c.Node.Name, sub, name, err)
		}
		return nil
	}
	var errs []error
	if h != nil {
		keyDir, err := keySubdir(h.Key)
		if err != nil {
			return fmt.Errorf("charon %s: key of %s: %w", c.Node.Name, h.Name, err)
		}
		errs = append(errs, write("x509", h.Name+".crt", h.Cert), write(keyDir, h.Name+".key", h.Key))
	}
	for _, ca := range cas {
		errs = append(errs, write("x509ca", ca.Name+".crt", ca.PEM))
	}
	for _, crl := range crls {
		errs = append(errs, write("x509crl", crl.Name+".crl", crl.PEM))
	}
	return errors.Join(errs...)
}

// keySubdir picks the swanctl directory for a PEM private key.
func keySubdir(key []byte) (string, error) {
	block, _ := pem.Decode(key)
	if block == nil {
		return "", errors.New("no PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return "rsa", nil
	case "EC PRIVATE KEY":
		return "ecdsa", nil
	case "PRIVATE KEY":
		return "private", nil // PKCS#8: any key type
	}
	return "", fmt.Errorf("PEM type %q is not a private key", block.Type)
}
