package savekeys

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/suite"
)

func TestTables(t *testing.T) {
	gcm := suite.Suite{Encr: suite.Encr{ID: suite.EncrAESGCM16, KeyBits: 128}}
	cbc := suite.Suite{Encr: suite.Encr{ID: suite.EncrAESCBC, KeyBits: 256}, Integ: suite.IntegHMACSHA2_256128}
	chacha := suite.Suite{Encr: suite.Encr{ID: suite.EncrChaCha20Poly1305, KeyBits: 256}}
	ikeKeys := []ike.IKESAKeys{
		{SPIi: 0x0102030405060708, SPIr: 0xa, Suite: gcm, EI: []byte{1, 2}, ER: []byte{3, 4}},
		{SPIi: 0xb, SPIr: 0xc, Suite: cbc, EI: []byte{0xaa}, ER: []byte{0xbb}, AI: []byte{0xcc}, AR: []byte{0xdd}},
		{SPIi: 0xd, SPIr: 0xe, Suite: chacha, EI: []byte{1}, ER: []byte{2}},
	}
	text, skipped := IKEv2Table(ikeKeys)
	want := `# ikesvc save-keys: Wireshark's IKEv2 decryption table
0102030405060708,000000000000000a,0102,0304,"AES-GCM-128 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"
000000000000000b,000000000000000c,aa,bb,"AES-CBC-256 [RFC3602]",cc,dd,"HMAC_SHA2_256_128 [RFC4868]"
`
	if text != want || skipped != 1 {
		t.Errorf("IKEv2Table =\n%s(skipped %d)\nwant\n%s(skipped 1)", text, skipped, want)
	}
	esp := []ike.ESPSAKeys{
		{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SPI: 0xc1d2e3f4,
			Encryption: kernel.Encryption(suite.EncrAESCBC), EncryptionKey: []byte{0x11}, Integrity: kernel.IntegHMACSHA2_256128, IntegrityKey: []byte{0x22}},
		{Src: netip.MustParseAddr("fd00::2"), Dst: netip.MustParseAddr("fd00::1"), SPI: 0x1,
			Encryption: kernel.Encryption(suite.EncrAESGCM16), EncryptionKey: []byte{0x33}},
	}
	text, skipped = ESPTable(esp)
	want = `# ikesvc save-keys: Wireshark's ESP SAs
"IPv4","10.0.0.1","10.0.0.2","0xc1d2e3f4","AES-CBC [RFC3602]","0x11","HMAC-SHA-256-128 [RFC4868]","0x22"
"IPv6","fd00::2","fd00::1","0x00000001","AES-GCM with 16 octet ICV [RFC4106]","0x33","NULL",""
`
	if text != want || skipped != 0 {
		t.Errorf("ESPTable =\n%s(skipped %d)\nwant\n%s", text, skipped, want)
	}
	if s := ikeKeys[0].String() + esp[0].String(); strings.Contains(s, "0102,") || strings.Contains(s, "[17]") || strings.Contains(s, "0x11") {
		t.Errorf("String shows key material: %s", s)
	}
}

// TestWritePrivate: the tables are 0600 in a 0700 directory, replaced
// whole, and a second Write leaves no temporary files behind.
func TestWritePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	keys := []ike.IKESAKeys{{SPIi: 1, SPIr: 2, Suite: suite.Suite{Encr: suite.Encr{ID: suite.EncrAESGCM16, KeyBits: 128}}, EI: []byte{1}, ER: []byte{2}}}
	for i := 0; i < 2; i++ {
		w, err := Write(dir, keys[:1-i], nil)
		if err != nil {
			t.Fatal(err)
		}
		if w.IKE != 1-i {
			t.Errorf("write %d: %d IKE entries, want %d", i, w.IKE, 1-i)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v, want 0700", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d files, want the 2 tables", len(entries))
	}
	for _, name := range []string{IKEv2File, ESPFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", name, fi, err)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, IKEv2File))
	if strings.Contains(string(data), "0000000000000001") {
		t.Errorf("the SA that went is still in the table:\n%s", data)
	}
}

// TestWriteRefusesSymlink: a directory name planted as a symlink (the
// /tmp attack) gets no keys.
func TestWriteRefusesSymlink(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "keys")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(link, nil, nil); err == nil || !strings.Contains(err.Error(), "not a directory of ours") {
		t.Fatalf("Write through a symlink: %v, want a refusal", err)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("files written through the symlink: %v", entries)
	}
}
