package pkitest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"alixsec.dev/ikesvc/pki"
	"alixsec.dev/scripts/qemu"
)

const (
	rootSubject = "C=JP, O=Example, CN=Example Root CA"
	hostPattern = "C=JP, O=Example, CN=*"
	moonAddr    = "10.77.1.1"
	sunAddr     = "10.77.1.2"
	// cdpURL is where board 1 fetches the CRL: QEMU's user network
	// forwards the guest's TCP connections to 10.0.2.100:80 to the test's
	// HTTP server on loopback (guestfwd).
	cdpURL    = "http://10.0.2.100/intermediate.crl"
	moonSlirp = "10.0.2.15/24"
	// revokeTimeout bounds the wait for board 1 to drop the SA after the
	// CRL is published; a fetch that failed retries after one minute.
	revokeTimeout = 150 * time.Second
	// logTimeout bounds the wait for a line in `show log`.
	logTimeout = 60 * time.Second
)

// requireQEMU skips without ALIXSEC_OUT or root and returns the image.
func requireQEMU(t *testing.T) string {
	t.Helper()
	out := os.Getenv("ALIXSEC_OUT")
	switch {
	case out == "":
		t.Skip("ALIXSEC_OUT not set: run `make test`, which builds the images first")
	case os.Geteuid() != 0:
		t.Skip("the QEMU tests run as root, like scripts/ipsectest")
	}
	image := filepath.Join(out, "qemu.img")
	if _, err := os.Stat(image); err != nil {
		t.Fatalf("ALIXSEC_OUT is set but the image is missing: %v", err)
	}
	return image
}

// ca is one alixca directory driven through the built command.
type ca struct {
	bin, dir string
}

// newCA builds alixca and makes the root, then the intermediate.
func newCA(t *testing.T) *ca {
	t.Helper()
	tmp := t.TempDir()
	c := &ca{bin: filepath.Join(tmp, "alixca"), dir: filepath.Join(tmp, "ca")}
	build := exec.Command("go", "build", "-o", c.bin, "./ikesvc/alixca")
	build.Dir = "../.." // the repository root, from scripts/pkitest
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./ikesvc/alixca: %v\n%s", err, out)
	}
	c.run(t, "ca", "init", "-subject", rootSubject)
	c.run(t, "ca", "intermediate")
	return c
}

func (c *ca) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(c.bin, append([]string{"-dir", c.dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("alixca %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *ca) file(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// crlServer serves the intermediate's CRL at /intermediate.crl once
// published (404 before: nothing published yet) and counts requests.
type crlServer struct {
	mu       sync.Mutex
	crl      []byte
	requests atomic.Int32
	served   atomic.Int32
}

func (s *crlServer) publish(der []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crl = der
}

func (s *crlServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	crl := s.crl
	s.mu.Unlock()
	if r.URL.Path != "/intermediate.crl" || crl == nil {
		http.NotFound(w, r)
		return
	}
	s.served.Add(1)
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(crl)
}

// TestRevocationWorkflow follows the admin's workflow twice: the CRL
// imported by paste on board 1, then fetched by board 1 from the CDP in
// board 2's certificate. The scenarios run one after the other (four
// emulated boards at once are too slow on a small CI machine).
func TestRevocationWorkflow(t *testing.T) {
	image := requireQEMU(t)
	for _, fetch := range []bool{false, true} {
		name := map[bool]string{false: "crl-import", true: "crl-fetch"}[fetch]
		if !t.Run(name, func(t *testing.T) { runWorkflow(t, image, fetch) }) {
			t.FailNow()
		}
	}
}

func runWorkflow(t *testing.T, image string, fetch bool) {
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	authority := newCA(t)
	step("alixca: root and intermediate made")

	var srv *crlServer
	ports := qemu.FreeUDPPorts(t, 2)
	link := func(self, other int, mac string) []string {
		return []string{
			"-netdev", fmt.Sprintf("socket,id=l,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", other, self),
			"-device", "e1000,netdev=l,mac=" + mac,
		}
	}
	moonNet := link(ports[0], ports[1], "52:54:00:78:01:01")
	if fetch {
		srv = &crlServer{}
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: srv}
		go hs.Serve(l)
		t.Cleanup(func() { hs.Close() })
		moonNet = append(moonNet,
			"-netdev", fmt.Sprintf("user,id=u,restrict=on,guestfwd=tcp:10.0.2.100:80-tcp:%s", l.Addr()),
			"-device", "e1000,netdev=u,mac=52:54:00:78:02:01")
	}
	moon := qemu.StartBoard(t, image, "moon", moonNet...)
	sun := qemu.StartBoard(t, image, "sun", link(ports[1], ports[0], "52:54:00:78:01:02")...)
	boards := []*qemu.Board{moon, sun}
	if err := qemu.Each(boards, (*qemu.Board).WaitBoot); err != nil {
		t.Fatal(err)
	}
	step("both boards booted")

	// Keys made on the boards; the CSRs come off the console.
	fqdn := map[*qemu.Board]string{moon: "moon.example.net", sun: "sun.example.net"}
	csrs := map[*qemu.Board]string{}
	var mu sync.Mutex
	if err := qemu.Each(boards, func(b *qemu.Board) error {
		if _, err := b.Run("pki generate key gw ecdsa-p256"); err != nil {
			return err
		}
		out, err := b.Run("pki request gw cn " + fqdn[b])
		if err != nil {
			return err
		}
		csr, err := qemu.PEMBlock(out, "CERTIFICATE REQUEST")
		mu.Lock()
		csrs[b] = csr
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	step("keys generated and CSRs printed on both boards")

	// The host issues from the CSRs; with CRL fetching, board 2's
	// certificate names the CDP (board 1's does not, so board 1's first
	// fetch comes with board 2's certificate in IKE_AUTH).
	certs := map[*qemu.Board]string{}
	for _, b := range boards {
		csrFile := filepath.Join(t.TempDir(), fqdn[b]+".csr")
		if err := os.WriteFile(csrFile, []byte(csrs[b]), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"issue", fqdn[b], "-csr", csrFile}
		if fetch && b == sun {
			args = append(args, "-cdp", cdpURL)
		}
		authority.run(t, args...)
		certs[b] = authority.file(t, fqdn[b]+".crt")
	}
	step("alixca issued both certificates from the CSRs")
	rootPEM, interPEM := authority.file(t, "root-ca.crt"), authority.file(t, "intermediate-ca.crt")

	peerAddr := map[*qemu.Board]string{moon: sunAddr, sun: moonAddr}
	ownAddr := map[*qemu.Board]string{moon: moonAddr, sun: sunAddr}
	if err := qemu.Each(boards, func(b *qemu.Board) error {
		for _, p := range []struct{ cmd, pem string }{
			{"pki import ca root", rootPEM},
			{"pki import ca intermediate", interPEM},
			{"pki import certificate gw", certs[b]},
		} {
			if _, err := b.Paste(p.cmd, p.pem); err != nil {
				return err
			}
		}
		localID, err := subjectDN(certs[b])
		if err != nil {
			return err
		}
		pre := "set ipsec peer gw "
		lines := []string{
			"delete interfaces eth0 address 10.99.0.1/24",
			"set interfaces eth0 address " + ownAddr[b] + "/24",
			fmt.Sprintf("set ipsec local-id %q", localID),
			pre + "address " + peerAddr[b],
			pre + fmt.Sprintf("remote-id-pattern %q", hostPattern),
			pre + "mode transport",
		}
		if b == moon {
			lines = append(lines, pre+"start-action start")
			if fetch {
				lines = append(lines, "set interfaces eth1 address "+moonSlirp, "set ipsec crl-fetch on")
			}
		} else {
			lines = append(lines, pre+"start-action none")
		}
		return b.Configure("workflow", lines)
	}); err != nil {
		t.Fatal(err)
	}
	step("root, intermediate and certificates imported by paste, IPsec configured")

	for _, b := range boards {
		out, err := b.WaitSA("ESTABLISHED IKE SA gw with a CHILD_SA", qemu.SATimeout, qemu.Established("gw", "").MatchString)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: show ipsec sa:\n%s", b.Name, out)
	}
	step("IKE and CHILD SAs established on both boards")
	for _, b := range boards {
		got, out, err := b.Ping(peerAddr[b], 3)
		if err != nil {
			t.Fatal(err)
		}
		if got == 0 {
			t.Fatalf("%s: ping %s through the SA: no replies:\n%s", b.Name, peerAddr[b], out)
		}
	}
	step("both boards ping each other")

	// Board 2 is lost: the host revokes it and publishes a CRL.
	authority.run(t, "revoke", fqdn[sun], "-reason", "keyCompromise")
	authority.run(t, "crl")
	crlPEM := authority.file(t, "intermediate-ca.crl")
	if fetch {
		der, err := crlDER(crlPEM)
		if err != nil {
			t.Fatal(err)
		}
		if srv.requests.Load() == 0 {
			t.Errorf("board 1 made no request to the CDP before the CRL was published (want its first fetch at IKE_AUTH)")
		}
		// show pki tells the admin the CDP is failing (404: nothing
		// published yet), before any peer is refused for it.
		if out, err := moon.WaitOutput("show pki", "the CDP listed as FAILING with the 404", logTimeout, 3*time.Second, func(s string) bool {
			return strings.Contains(s, "FAILING  "+cdpURL) && strings.Contains(s, "404")
		}); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		srv.publish(der)
		step("board 2 revoked, CRL published at the CDP (%d requests so far)", srv.requests.Load())
	} else {
		out, err := moon.Paste("pki import crl intermediate", crlPEM)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "1 revoked") || !strings.Contains(out, "used in ipsec crl") {
			t.Errorf("moon: pki import crl: want 1 revoked, used in ipsec crl:\n%s", out)
		}
		step("board 2 revoked, CRL imported on board 1")
	}

	// Board 1 tears the SA down and, initiating again and again
	// (start-action start), refuses board 2 from then on.
	gone := func(s string) bool { return !strings.Contains(s, "ESTABLISHED") }
	if out, err := moon.WaitSA("no ESTABLISHED SA", revokeTimeout, gone); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("moon after revocation: show ipsec sa:\n%s", out)
	}
	step("board 1 tore the SA down")
	if fetch {
		out, err := moon.WaitOutput("show pki", "the CDP listed as OK with the revoking CRL", logTimeout, 3*time.Second, func(s string) bool {
			return strings.Contains(s, "OK       "+cdpURL) && strings.Contains(s, "(1 revoked)")
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		step("show pki: %s", strings.TrimSpace(out[strings.Index(out, "CRL distribution points:"):]))
	}
	if fetch && srv.served.Load() == 0 {
		t.Errorf("the SA went down but the CDP never served the CRL")
	}
	if _, err := sun.WaitSA("no ESTABLISHED SA", qemu.SATimeout, gone); err != nil {
		t.Fatal(err)
	}
	step("board 2 has no SA either")
	// Board 2 tries again on its own: board 1 must refuse it at IKE_AUTH,
	// and board 2 must see the refusal.
	if err := sun.Configure("retry", []string{"set ipsec peer gw start-action start"}); err != nil {
		t.Fatal(err)
	}
	refused := regexp.MustCompile(`IKE_AUTH from ` + regexp.QuoteMeta(sunAddr) + `:\d+ .*authentication failed: .*certificate revoked`)
	rejected := regexp.MustCompile(`IKE_AUTH sent\) failed: the peer rejected our authentication \(AUTHENTICATION_FAILED\)`)
	moonLog, err := moon.WaitOutput("show log", "board 1 refusing board 2's IKE_AUTH", logTimeout, 3*time.Second, refused.MatchString)
	if err != nil {
		t.Fatal(err)
	}
	teardown := regexp.MustCompile(`ike: peer gw: deleting IKE SA [0-9a-f]+: peer certificate (no longer trusted|revoked): .*certificate revoked`)
	if !teardown.MatchString(moonLog) {
		t.Errorf("moon: show log has no teardown line matching %q", teardown)
	}
	sunLog, err := sun.WaitOutput("show log", "board 2 told AUTHENTICATION_FAILED", logTimeout, 3*time.Second, rejected.MatchString)
	if err != nil {
		t.Fatal(err)
	}
	step("board 2's new attempt refused by board 1")
	for _, l := range strings.Split(moonLog+sunLog, "\n") {
		if teardown.MatchString(l) || strings.Contains(l, "crlfetch") || rejected.MatchString(l) || refused.MatchString(l) {
			t.Logf("log: %s", strings.TrimSpace(l))
		}
	}
	for _, b := range boards {
		out, err := b.Run("show ipsec sa")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "ESTABLISHED") {
			t.Errorf("%s: an SA is ESTABLISHED again after the revocation:\n%s", b.Name, out)
		}
	}
	if fetch {
		t.Logf("CDP: %d requests, %d served the CRL", srv.requests.Load(), srv.served.Load())
	}
	step("scenario done")
}

// subjectDN returns a certificate's subject in the DN form of local-id.
func subjectDN(certPEM string) (string, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return "", fmt.Errorf("issued certificate: not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("issued certificate: %w", err)
	}
	return pki.DNString(cert.RawSubject), nil
}

// crlDER returns the DER of a PEM CRL, the form CDPs serve.
func crlDER(crlPEM string) ([]byte, error) {
	block, _ := pem.Decode([]byte(crlPEM))
	if block == nil || block.Type != "X509 CRL" {
		return nil, fmt.Errorf("intermediate-ca.crl: not a PEM X509 CRL")
	}
	return block.Bytes, nil
}
