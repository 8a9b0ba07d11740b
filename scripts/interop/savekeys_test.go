package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSaveKeysDecrypt: two ikesvc in namespaces set up an IKE SA while
// dumpcap records node A's link; the responder runs with -save-keys DIR,
// and the initiator's control socket gets save-keys (what the CLI's
// `request ipsec save-keys` sends). tshark, with its configuration
// directory pointed at each written directory, decrypts the IKE_AUTH and
// shows the IDi payload with the initiator's identity; without the keys
// it cannot. Both directories' files are 0600.
func TestSaveKeysDecrypt(t *testing.T) {
	p := requireRoot(t)
	bin := requireIkesvc(t)
	for _, proposal := range []string{"aes128-sha256-x25519", "aes256gcm16-prfsha384-x25519", "aes128gcm16-prfsha256-ecp256"} {
		t.Run(proposal, func(t *testing.T) {
			ctx := testContext(t)
			pair := newPair(t, "responder", "initiator")
			capture, err := StartCapture(ctx, pair.A, IKEFilter, filepath.Join(t.TempDir(), "ike.pcap"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = capture.Stop() })
			moon, sun := p.Hosts[HostMoon], p.Hosts[HostSun]
			respCfg, err := IkesvcConfig(moon, IkesvcPeer{Name: "sun", Local: pair.A.IPv4, Remote: pair.B.IPv4,
				RemoteID: sun.ID, IKEProposal: proposal, ESPProposal: testESPProposal})
			if err != nil {
				t.Fatal(err)
			}
			respKeys := filepath.Join(t.TempDir(), "responder-keys")
			s, err := StartIkesvcArgs(ctx, bin, pair.A, t.TempDir(), shortDir(t), respCfg, "-kernel", "memory", "-save-keys", respKeys)
			if s != nil {
				t.Cleanup(func() {
					_ = s.Stop()
					if t.Failed() {
						t.Logf("responder log:\n%s", s.Log())
					}
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			initCfg, err := IkesvcConfig(sun, IkesvcPeer{Name: "moon", Local: pair.B.IPv4, Remote: pair.A.IPv4, Initiate: true,
				RemoteID: moon.ID, IKEProposal: proposal, ESPProposal: testESPProposal})
			if err != nil {
				t.Fatal(err)
			}
			ini := startIkesvc(t, bin, pair.B, initCfg)
			if err := ini.WaitShow(ctx, 10*time.Second, func(show string) error {
				if !strings.Contains(show, "moon: IKE SA ESTABLISHED") {
					return fmt.Errorf("not established:\n%s", show)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			show, err := ini.Show(ctx)
			if err != nil {
				t.Fatal(err)
			}
			spiI := spiOf(show)
			if spiI == "" {
				t.Fatalf("no SPIs in the initiator's show:\n%s", show)
			}
			// -save-keys follows the SAs within a second.
			deadline := time.Now().Add(10 * time.Second)
			for {
				data, _ := os.ReadFile(filepath.Join(respKeys, "ikev2_decryption_table"))
				if strings.Contains(string(data), spiI) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the responder's ikev2_decryption_table never got SA %s:\n%s", spiI, data)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// save-keys through the control socket, into the default /tmp
			// directory (as on the board): the initiator runs without -save-keys.
			out, err := run(ctx, bin, "-control", ini.Control, "save-keys")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "wrote the keys of 1 IKE SAs and 2 ESP SAs to /tmp/ikesvc-keys") {
				t.Fatalf("save-keys answered %q", out)
			}
			iniKeys := "/tmp/ikesvc-keys"
			t.Cleanup(func() { os.RemoveAll(iniKeys) })
			if err := capture.Stop(); err != nil {
				t.Fatal(err)
			}
			for _, dir := range []string{respKeys, iniKeys} {
				for _, f := range []string{"ikev2_decryption_table", "esp_sa"} {
					fi, err := os.Stat(filepath.Join(dir, f))
					if err != nil || fi.Mode().Perm() != 0o600 {
						t.Errorf("%s/%s: %v, want mode 0600", dir, f, err)
					}
				}
				text, err := decodeWithKeys(ctx, capture.File, dir)
				if err != nil {
					t.Fatal(err)
				}
				if !idiOf(text, "id-at-commonName=sun") {
					t.Errorf("tshark with the keys in %s shows no IDi payload with CN=sun:\n%s", dir, ikeAuthPart(text))
				}
				if strings.Contains(text, "Malformed") {
					t.Errorf("tshark complains with the keys in %s:\n%s", dir, ikeAuthPart(text))
				}
			}
			// Without the keys the IDi stays encrypted: the check above can fail.
			text, err := decodeWithKeys(ctx, capture.File, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text, "Payload: Identification - Initiator (35)") {
				t.Errorf("tshark shows the IDi without any keys: the test proves nothing")
			}
		})
	}
}

// decodeWithKeys is tshark's full decode of file with its personal
// configuration directory pointed at dir (WIRESHARK_CONFIG_DIR), where
// save-keys put ikev2_decryption_table and esp_sa. A table tshark cannot
// load (it says so on stderr and goes on) is an error.
func decodeWithKeys(ctx context.Context, file, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "tshark", "-n", "-r", file, "-V")
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("tshark with keys from %s: %w: %s", dir, err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Error loading table") {
		return "", fmt.Errorf("tshark cannot read the tables in %s: %s", dir, stderr.String())
	}
	return stdout.String(), nil
}

// idiOf reports whether a decode holds an IDi payload whose identity
// data shows want (tshark's rendering of the DN, e.g. id-at-commonName=sun).
func idiOf(text, want string) bool {
	_, after, ok := strings.Cut(text, "Payload: Identification - Initiator (35)")
	if !ok {
		return false
	}
	idi, _, _ := strings.Cut(after, "Payload: ")
	return strings.Contains(idi, "ID_DER_ASN1_DN") && strings.Contains(idi, want)
}

// spiOf is the initiator SPI (16 hex digits) in an ikesvc show.
func spiOf(show string) string {
	for _, l := range strings.Split(show, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "SPIs" {
			return strings.TrimSuffix(f[1], "_i")
		}
	}
	return ""
}

// ikeAuthPart cuts a decode down to its IKE_AUTH frames for a failure message.
func ikeAuthPart(text string) string {
	var keep []string
	frames := strings.Split(text, "\nFrame ")
	for _, f := range frames {
		if strings.Contains(f, "IKE_AUTH") {
			keep = append(keep, "Frame "+f)
		}
	}
	if len(keep) == 0 {
		return text
	}
	return strings.Join(keep, "\n")
}
