package shell

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/pki"
)

const day = 24 * time.Hour

// paste runs line with text as what the admin pastes on the console.
func (f *fixture) paste(line, text string) string {
	f.sh.in = &pipeReader{in: bufio.NewReader(strings.NewReader(text)), out: io.Discard}
	return f.exec(line)
}

func (f *fixture) running(t *testing.T) (uint64, *model.Config, string) {
	t.Helper()
	ctx, cancel := f.sh.ctx()
	defer cancel()
	snap, err := f.sh.env.Client.Running(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Revision, snap.Config, snap.Text
}

// boardKey returns the public key of the board's key name.
func (f *fixture) boardKey(t *testing.T, name string) any {
	t.Helper()
	_, cfg, _ := f.running(t)
	k, err := pki.ParsePrivateKey([]byte(cfg.PKI.Keys[name]))
	if err != nil {
		t.Fatalf("pki key %s: %v", name, err)
	}
	return k.Public()
}

func withCRLF(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// TestPKIWorkflow follows a new admin: a key on the board, a CSR, the CA
// chain, the certificate from the CA, a CRL, then show pki.
func TestPKIWorkflow(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC().Truncate(time.Second)
	f.sh.env.Now = func() time.Time { return now }
	root := newTestCA(t, "alixsec root CA", nil, now.Add(-day), now.Add(3650*day))
	inter := newTestCA(t, "alixsec intermediate CA", root, now.Add(-day), now.Add(1825*day))

	out := f.exec("pki generate key gw1")
	if out != "generated ecdsa-p256 key gw1; committed revision 2\n" {
		t.Fatalf("generate key: %q", out)
	}
	out = f.exec("pki request gw1 cn gw1.example.net san-dns gw1.example.net san-ip 10.99.0.1")
	if strings.Count(out, "-----BEGIN CERTIFICATE REQUEST-----\n") != 1 || !strings.HasSuffix(out, "-----END CERTIFICATE REQUEST-----\n") || strings.Contains(out, "PRIVATE") {
		t.Fatalf("pki request printed:\n%s", out)
	}
	certText, csr := inter.signCSR(t, out, now.Add(-time.Hour), now.Add(20*day))
	if csr.Subject.CommonName != "gw1.example.net" || len(csr.DNSNames) != 1 || len(csr.IPAddresses) != 1 || !csr.IPAddresses[0].Equal(net.IPv4(10, 99, 0, 1)) {
		t.Errorf("CSR subject %v, DNS %v, IP %v", csr.Subject, csr.DNSNames, csr.IPAddresses)
	}
	if pub, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(f.boardKey(t, "gw1")) {
		t.Errorf("CSR is not for the board's key gw1")
	}

	steps := []struct{ line, paste, want string }{
		{"pki import ca root", withCRLF(root.pem()), "stored pki ca-certificate root (root CA C=CH, O=alixsec, CN=alixsec root CA, until "},
		{"pki import ca inter", "Certificate:\n    Data:\n        Version: 3 (0x2)\n" + inter.pem(), "stored pki ca-certificate inter (intermediate CA C=CH, O=alixsec, CN=alixsec intermediate CA"},
		{"pki import certificate gw1", "\n" + withCRLF(certText) + "\n", "stored pki certificate gw1 (C=CH, O=alixsec, CN=gw1.example.net, until " + now.Add(20*day).Format(dateFormat) + "); ipsec key gw1, ipsec certificate gw1; committed revision 5"},
		{"pki import crl inter-crl", inter.crl(t, 1, now.Add(-time.Hour), now.Add(7*day), big.NewInt(77)), "stored pki crl inter-crl (C=CH, O=alixsec, CN=alixsec intermediate CA, 1 revoked, next update "},
		{"pki import crl inter-crl", inter.crl(t, 2, now, now.Add(14*day), big.NewInt(77), big.NewInt(78)), "stored pki crl inter-crl (C=CH, O=alixsec, CN=alixsec intermediate CA, 2 revoked"},
	}
	for _, s := range steps {
		out := f.paste(s.line, s.paste)
		lines := strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "Paste the PEM ") || !strings.Contains(lines[1], s.want) {
			t.Fatalf("%s printed\n%s\nwant a paste prompt, then %q", s.line, out, s.want)
		}
	}

	rev, cfg, text := f.running(t)
	if rev != 7 || cfg.IPsec.Key != "gw1" || cfg.IPsec.Certificate != "gw1" ||
		strings.Join(cfg.IPsec.CACertificates, ",") != "root,inter" || strings.Join(cfg.IPsec.CRLs, ",") != "inter-crl" {
		t.Errorf("running revision %d, ipsec %+v", rev, cfg.IPsec)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("imported config does not validate: %v", err)
	}
	if strings.Count(text, "BEGIN PRIVATE KEY") != 1 {
		t.Errorf("running config should hold the one generated key:\n%s", text)
	}

	out = f.exec("show pki")
	for _, want := range []string{
		"Keys:\n", "  gw1   ecdsa-p256  256   *",
		"Certificates:\n", "  gw1   C=CH, O=alixsec, CN=gw1.example.net  C=CH, O=alixsec, CN=alixsec intermediate CA",
		now.Add(20*day).Format(dateFormat) + "  20         *",
		"CA certificates:\n", "  root   C=CH, O=alixsec, CN=alixsec root CA",
		"  inter  C=CH, O=alixsec, CN=alixsec intermediate CA  C=CH, O=alixsec, CN=alixsec root CA",
		"CRLs:\n", "  inter-crl  C=CH, O=alixsec, CN=alixsec intermediate CA  " + now.Format(dateFormat) + "   " + now.Add(14*day).Format(dateFormat) + "   2",
		"warning: pki certificate gw1: \"C=CH, O=alixsec, CN=gw1.example.net\" expires ",
		"CRL distribution points: ikesvc is not running\nwarning: pki certificate gw1: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show pki lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE") || strings.Contains(out, "warning: pki ca-certificate") || strings.Contains(out, "warning: pki crl") {
		t.Errorf("show pki printed a key or a false warning:\n%s", out)
	}

	// A month later the certificate has expired and the CRL is stale: a
	// commit still goes through (the clock may be what is wrong) and says
	// so, with the lines ikesvc -config prints.
	now = now.Add(30 * day)
	f.exec("configure")
	f.exec("set system description later")
	out = f.exec("commit")
	for _, want := range []string{
		"committed revision 8\n",
		`warning: ipsec certificate gw1: certificate "C=CH, O=alixsec, CN=gw1.example.net" expired: valid until `,
		`warning: ipsec crl inter-crl: CRL from "C=CH, O=alixsec, CN=alixsec intermediate CA" is past its next update `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("commit a month later lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "warning:"); n != 2 {
		t.Errorf("commit a month later printed %d warnings, want 2:\n%s", n, out)
	}
}

// TestPKIKeyTypes generates each key type and requests a CSR with it.
func TestPKIKeyTypes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		typ, show string
		alg       x509.PublicKeyAlgorithm
	}{
		{"ecdsa-p256", "ecdsa-p256  256", x509.ECDSA},
		{"rsa2048", "rsa         2048", x509.RSA},
		{"rsa3072", "rsa         3072", x509.RSA},
		{"ed25519", "ed25519     256", x509.Ed25519},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			name := "k-" + tt.typ
			if out := f.exec("pki generate key " + name + " " + tt.typ); !strings.HasPrefix(out, "generated "+tt.typ+" key "+name+"; committed revision ") {
				t.Fatalf("generate: %q", out)
			}
			out := f.exec("pki request " + name)
			block, _ := pem.Decode([]byte(out))
			if block == nil {
				t.Fatalf("no CSR: %q", out)
			}
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil || csr.CheckSignature() != nil || csr.PublicKeyAlgorithm != tt.alg || csr.Subject.CommonName != "alixsec" {
				t.Errorf("CSR %v: alg %v, CN %q", err, csr.PublicKeyAlgorithm, csr.Subject.CommonName)
			}
			if show := f.exec("show pki"); !strings.Contains(show, "  "+name+"  ") || !strings.Contains(show, tt.show) {
				t.Errorf("show pki lacks %q:\n%s", tt.show, show)
			}
		})
	}
}

// TestPKIBadInput refuses each bad command or paste with one line and
// leaves the running config as it was.
func TestPKIBadInput(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC().Truncate(time.Second)
	f.sh.env.Now = func() time.Time { return now }
	root := newTestCA(t, "alixsec root CA", nil, now.Add(-day), now.Add(3650*day))
	inter := newTestCA(t, "alixsec intermediate CA", root, now.Add(-day), now.Add(1825*day))
	otherRoot := newTestCA(t, "other root CA", nil, now.Add(-day), now.Add(3650*day))
	otherInter := newTestCA(t, "other intermediate CA", otherRoot, now.Add(-day), now.Add(1825*day))
	// Same name as the configured intermediate, another key: a CRL it
	// signs is "signed by another CA".
	impostor := newTestCA(t, "alixsec intermediate CA", nil, now.Add(-day), now.Add(1825*day))
	expiredRoot := newTestCA(t, "expired root CA", nil, now.Add(-20*day), now.Add(-day))
	revokedInter := newTestCA(t, "revoked intermediate CA", root, now.Add(-day), now.Add(1825*day))

	f.exec("pki generate key gw1")
	for _, p := range []struct{ line, text string }{
		{"pki import ca root", root.pem()},
		{"pki import ca inter", inter.pem()},
		{"pki import crl inter-crl", inter.crl(t, 5, now.Add(-time.Hour), now.Add(7*day), big.NewInt(666))},
		{"pki import crl root-crl", root.crl(t, 1, now.Add(-time.Hour), now.Add(7*day), revokedInter.cert.SerialNumber)},
	} {
		if out := f.paste(p.line, p.text); !strings.Contains(out, "committed revision") {
			t.Fatalf("setup %s: %s", p.line, out)
		}
	}
	gw1 := f.boardKey(t, "gw1")
	good := inter.issue(t, "gw1", gw1, nextSerial(), now.Add(-time.Hour), now.Add(365*day))
	goodLines := strings.Split(good, "\n")
	truncated := strings.Join(append(goodLines[:3:3], goodLines[len(goodLines)-2:]...), "\n")
	garbled := strings.Replace(good, goodLines[2], strings.Repeat("!", len(goodLines[2])), 1)
	notCA := inter.issue(t, "gw9", newECKey(t).Public(), nextSerial(), now.Add(-time.Hour), now.Add(day))

	tests := []struct {
		name, line, paste, want string
	}{
		{"certificate for another key", "pki import certificate c", inter.issue(t, "gw1", newECKey(t).Public(), nextSerial(), now.Add(-time.Hour), now.Add(day)),
			"% pki import certificate c: certificate does not match any key on this board (keys: gw1)"},
		{"expired certificate", "pki import certificate c", inter.issue(t, "gw1", gw1, nextSerial(), now.Add(-30*day), now.Add(-day)),
			`% pki import certificate c: verify "C=CH, O=alixsec, CN=gw1": certificate expired: valid until `},
		{"not yet valid certificate", "pki import certificate c", inter.issue(t, "gw1", gw1, nextSerial(), now.Add(day), now.Add(30*day)),
			`% pki import certificate c: verify "C=CH, O=alixsec, CN=gw1": certificate not yet valid: valid from `},
		{"certificate from an unknown CA", "pki import certificate c", otherInter.issue(t, "gw1", gw1, nextSerial(), now.Add(-time.Hour), now.Add(day)),
			`% pki import certificate c: verify "C=CH, O=alixsec, CN=gw1" (issuer "C=CH, O=alixsec, CN=other intermediate CA"): certificate does not chain to a configured CA`},
		{"revoked certificate", "pki import certificate c", inter.issue(t, "gw1", gw1, big.NewInt(666), now.Add(-time.Hour), now.Add(day)),
			`% pki import certificate c: verify "C=CH, O=alixsec, CN=gw1": certificate revoked`},
		{"CA as certificate", "pki import certificate c", root.pem(), "% pki import certificate c: this is a CA certificate: use pki import ca"},
		{"truncated PEM", "pki import certificate c", truncated, "% pki import certificate c: truncated or garbled certificate: x509: malformed certificate"},
		{"paste ends before END", "pki import certificate c", strings.Join(goodLines[:5], "\n"), "% pki import certificate c: truncated PEM: input ended before the -----END line"},
		{"garbled PEM", "pki import certificate c", garbled, "% pki import certificate c: truncated or garbled PEM: the CERTIFICATE block does not decode (lines missing or changed?)"},
		{"not PEM", "pki import certificate c", "hello\nworld\n-----END CERTIFICATE-----\n", `% pki import certificate c: not PEM: no -----BEGIN CERTIFICATE----- line (first line "hello")`},
		{"nothing pasted", "pki import certificate c", "", "% pki import certificate c: nothing pasted"},
		{"CRL as certificate", "pki import certificate c", inter.crl(t, 9, now, now.Add(day)), "% pki import certificate c: PEM block is X509 CRL, want CERTIFICATE"},
		{"existing certificate name", "pki import certificate gw1x", inter.issue(t, "gw1", gw1, nextSerial(), now.Add(-time.Hour), now.Add(day)),
			"% pki import certificate gw1x: pki certificate gw1x exists: choose another name"},
		{"certificate already stored", "pki import certificate c", good, "% pki import certificate c: this certificate is already stored as pki certificate gw1x"},
		{"CA that is not a CA", "pki import ca x", notCA, `% pki import ca x: certificate "C=CH, O=alixsec, CN=gw9" is not a CA (no basicConstraints CA:TRUE)`},
		{"unknown CA", "pki import ca x", otherInter.pem(), `% pki import ca x: unknown CA: "C=CH, O=alixsec, CN=other intermediate CA" is issued by "C=CH, O=alixsec, CN=other root CA", which is not a configured CA`},
		{"expired CA", "pki import ca x", expiredRoot.pem(), `% pki import ca x: certificate "C=CH, O=alixsec, CN=expired root CA" expired: valid until `},
		{"revoked intermediate CA", "pki import ca x", revokedInter.pem(), `% pki import ca x: CA "C=CH, O=alixsec, CN=revoked intermediate CA" (serial ` + revokedInter.cert.SerialNumber.String() + `) is revoked by the CRL of "C=CH, O=alixsec, CN=alixsec root CA"`},
		{"CA already stored", "pki import ca x", root.pem(), "% pki import ca x: this CA is already stored as pki ca-certificate root"},
		{"existing CA name", "pki import ca root", otherRoot.pem(), "% pki import ca root: pki ca-certificate root exists: choose another name"},
		{"CRL signed by another CA", "pki import crl x", impostor.crl(t, 9, now, now.Add(day)),
			`% pki import crl x: CRL from "C=CH, O=alixsec, CN=alixsec intermediate CA": CRL signature does not verify with its issuer's key (signed by another CA?)`},
		{"CRL of an unknown CA", "pki import crl x", otherRoot.crl(t, 9, now, now.Add(day)), `% pki import crl x: CRL from "C=CH, O=alixsec, CN=other root CA": CRL issuer is not a configured CA`},
		{"CRL out of date", "pki import crl x", inter.crl(t, 9, now.Add(-10*day), now.Add(-day)), `% pki import crl x: CRL from "C=CH, O=alixsec, CN=alixsec intermediate CA" is out of date: next update was due `},
		{"older CRL replacing a newer one", "pki import crl inter-crl", inter.crl(t, 4, now.Add(-2*time.Hour), now.Add(day)), `% pki import crl inter-crl: CRL from "C=CH, O=alixsec, CN=alixsec intermediate CA" is not newer than the stored one`},
		{"CRL of another CA under a used name", "pki import crl inter-crl", root.crl(t, 1, now, now.Add(day)), `% pki import crl inter-crl: this name holds the CRL of "C=CH, O=alixsec, CN=alixsec intermediate CA", not of "C=CH, O=alixsec, CN=alixsec root CA": use another name`},
		{"key name exists", "pki generate key gw1", "", "% pki generate key gw1: pki key gw1 exists: choose another name (or delete it in configure mode)"},
		{"unknown key type", "pki generate key k2 dsa", "", `% pki generate key: key type "dsa": must be one of ecdsa-p256, rsa2048, rsa3072, ed25519`},
		{"bad key name", "pki generate key -k", "", `% pki generate key: name "-k": must be 1..64 letters, digits, '.', '-' or '_' starting with a letter or digit`},
		{"request for a missing key", "pki request nokey", "", `% pki request: no pki key "nokey" (pki generate key nokey first)`},
		{"request with a bad SAN", "pki request gw1 san-ip 10.1", "", `% pki request gw1: san-ip "10.1": must be an IPv4 or IPv6 address`},
		{"request with a dangling option", "pki request gw1 cn", "", "% pki request gw1: cn needs a value"},
		{"import without a name", "pki import crl", "", "% usage: pki import crl <name>"},
	}
	// The name gw1x is taken by a good certificate first, so that storing
	// the same one again under that name is refused.
	if out := f.paste("pki import certificate gw1x", good); !strings.Contains(out, "ipsec key gw1, ipsec certificate gw1x; committed revision") {
		t.Fatalf("importing the good certificate: %s", out)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, _, text := f.running(t)
			out := f.paste(tt.line, tt.paste)
			if strings.HasPrefix(out, "Paste the PEM ") {
				out = out[strings.Index(out, "\n")+1:] // the paste prompt is not the refusal
			}
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, tt.want) {
				t.Errorf("%s printed\n%q\nwant one line starting with\n%q", tt.line, out, tt.want)
			}
			if rev2, _, text2 := f.running(t); rev2 != rev || text2 != text {
				t.Errorf("running config changed: revision %d -> %d", rev, rev2)
			}
		})
	}
}

// TestPKIPasteOnConsole drives an import through Run, as on the serial
// console: the PEM lines come from the same input as the commands, with
// CR LF line ends, and the command after the END line runs normally.
func TestPKIPasteOnConsole(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	root := newTestCA(t, "console root CA", nil, now.Add(-day), now.Add(100*day))
	in := withCRLF("pki import ca root\n" + root.pem() + "show pki\nexit\n")
	var out bytes.Buffer
	if err := Run(f.env, strings.NewReader(in), &out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alixsec> Paste the PEM CA certificate", "stored pki ca-certificate root (root CA C=CH, O=alixsec, CN=console root CA", "alixsec> Keys:", "  root  C=CH, O=alixsec, CN=console root CA"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "unknown command") {
		t.Errorf("pasted lines ran as commands:\n%s", out.String())
	}
}

func TestPKICompletion(t *testing.T) {
	f := newFixture(t)
	f.exec("pki generate key gw1")
	tests := []struct{ before, want string }{
		{"pk", "pki "},
		{"pki g", "pki generate "},
		{"pki generate k", "pki generate key "},
		{"pki generate key k1 ed", "pki generate key k1 ed25519 "},
		{"pki req", "pki request "},
		{"pki request g", "pki request gw1 "},
		{"pki request gw1 san-d", "pki request gw1 san-dns "},
		{"pki im", "pki import "},
		{"pki import cr", "pki import crl "},
		{"pki import ce", "pki import certificate "},
		{"show pk", "show pki "},
	}
	for _, tt := range tests {
		t.Run(tt.before, func(t *testing.T) {
			if got, ok := f.sh.Complete(tt.before); !ok || got != tt.want {
				t.Errorf("Complete(%q) = %q, %v; want %q", tt.before, got, ok, tt.want)
			}
		})
	}
	help := f.exec("pki ?")
	for _, w := range []string{"generate", "request", "import"} {
		if !strings.Contains(help, "  "+w+" ") {
			t.Errorf("pki ? lacks %q:\n%s", w, help)
		}
	}
	help = f.exec("pki generate key gw2 ?")
	for _, w := range []string{"<Enter>", "ecdsa-p256  key type (default)", "rsa3072", "ed25519"} {
		if !strings.Contains(help, w) {
			t.Errorf("pki generate key gw2 ? lacks %q:\n%s", w, help)
		}
	}
	help = f.exec("pki import ?")
	for _, w := range []string{"certificate", "ca", "crl"} {
		if !strings.Contains(help, "  "+w+" ") {
			t.Errorf("pki import ? lacks %q:\n%s", w, help)
		}
	}
}

// TestPKIPasteInTerminal pastes into the interactive terminal: CR LF line
// ends, the PEM lines stay out of the history (Up recalls the command),
// and Ctrl-C or Ctrl-D abandon a paste without ending the login.
func TestPKIPasteInTerminal(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	root := newTestCA(t, "tty root CA", nil, now.Add(-day), now.Add(100*day))
	lines := strings.Split(root.pem(), "\n")
	keys := &chunkReader{chunks: []string{
		"pki import ca root\r" + withCRLF(root.pem()),
		"pki import ca half\r", withCRLF(strings.Join(lines[:3], "\n") + "\n"),
		"MIIB", "\x03", // Ctrl-C abandons the paste
		"\x1b[A\r", // Up recalls the last command, not base64
		"\x04",     // and Ctrl-D abandons its paste
		"show pki\r",
	}}
	var out bytes.Buffer
	if err := Run(f.env, keys, &out, true); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"stored pki ca-certificate root (root CA C=CH, O=alixsec, CN=tty root CA",
		"% pki import ca half: paste aborted: nothing stored\r\nalixsec> pki import ca half\r\nPaste the PEM",
		"\r\n% pki import ca half: paste aborted: nothing stored\r\nalixsec> show pki\r\nKeys:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, got)
		}
	}
	if _, cfg, _ := f.running(t); len(cfg.PKI.CACertificates) != 1 {
		t.Errorf("CAs stored: %v", cfg.PKI.CACertificates)
	}
}

// chunkReader returns one chunk per Read, as keys arrive on a console:
// x/term drops what follows a Ctrl-D within the same read.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// TestCertificateHint: a card preseeded with CAs but no key (the key is to
// be made on the board) says what to do at login; other configs say nothing.
func TestCertificateHint(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC().Truncate(time.Second)
	f.sh.env.Now = func() time.Time { return now }
	root := newTestCA(t, "alixsec root CA", nil, now.Add(-day), now.Add(3650*day))
	f.sh.certificateHint()
	if f.out.Len() != 0 {
		t.Fatalf("hint without CAs: %q", f.out.String())
	}
	if out := f.paste("pki import ca root", root.pem()); !strings.Contains(out, "stored pki ca-certificate root") {
		t.Fatalf("import ca: %q", out)
	}
	f.out.Reset()
	f.sh.certificateHint()
	if got := f.out.String(); !strings.Contains(got, "pki generate key") || strings.Count(got, "\n") != 1 {
		t.Fatalf("hint with CAs and no key: %q", got)
	}
}
