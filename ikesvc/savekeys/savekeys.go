// Package savekeys writes the key tables Wireshark (and tshark) read to
// decrypt IKEv2 messages and ESP packets, the way strongSwan's save-keys
// plugin does: ikev2_decryption_table and esp_sa, the UAT files of the
// isakmp and esp dissectors, in a directory that a preferences directory
// can point at (`tshark -o uat:ikev2_decryption_table:...` reads the same
// lines).
//
//	ikev2_decryption_table: SPIi,SPIr,SK_ei,SK_er,"ENCR",SK_ai,SK_ar,"INTEG"
//	                        (SPIs: 16 hex digits; keys: hex; AEADs: SK_a*
//	                        empty, INTEG "NONE [RFC4306]")
//	esp_sa:                 "IPv4","SRC","DST","0xSPI","ENCR","0xKEY","AUTH","0xKEY"
//
// The files hold key material: they are written 0600 in a 0700
// directory, replaced atomically, and nothing here logs a key.
package savekeys

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/suite"
)

// File names, as Wireshark's UATs name them.
const (
	IKEv2File = "ikev2_decryption_table"
	ESPFile   = "esp_sa"
)

// ikeEncr names an IKE encryption transform for Wireshark's isakmp dissector.
func ikeEncr(e suite.Encr) string {
	switch e.ID {
	case suite.EncrAESCBC:
		return fmt.Sprintf("AES-CBC-%d [RFC3602]", e.KeyBits)
	case suite.EncrAESGCM16:
		return fmt.Sprintf("AES-GCM-%d with 16 octet ICV [RFC5282]", e.KeyBits)
	}
	return ""
}

func ikeInteg(i suite.IntegID) string {
	switch i {
	case suite.IntegNone:
		return "NONE [RFC4306]"
	case suite.IntegHMACSHA1_96:
		return "HMAC_SHA1_96 [RFC2404]"
	case suite.IntegHMACSHA2_256128:
		return "HMAC_SHA2_256_128 [RFC4868]"
	case suite.IntegHMACSHA2_384192:
		return "HMAC_SHA2_384_192 [RFC4868]"
	case suite.IntegHMACSHA2_512256:
		return "HMAC_SHA2_512_256 [RFC4868]"
	}
	return ""
}

// espEncr and espAuth name ESP transforms for Wireshark's esp dissector.
func espEncr(e kernel.Encryption) string {
	switch suite.EncrID(e) {
	case suite.EncrAESCBC:
		return "AES-CBC [RFC3602]"
	case suite.EncrAESGCM16:
		return "AES-GCM with 16 octet ICV [RFC4106]"
	}
	return ""
}

func espAuth(i kernel.Integrity) string {
	switch i {
	case kernel.IntegNone:
		return "NULL"
	case kernel.IntegHMACSHA1_96:
		return "HMAC-SHA-1-96 [RFC2404]"
	case kernel.IntegHMACSHA2_256128:
		return "HMAC-SHA-256-128 [RFC4868]"
	case kernel.IntegHMACSHA2_384192:
		return "HMAC-SHA-384-192 [RFC4868]"
	case kernel.IntegHMACSHA2_512256:
		return "HMAC-SHA-512-256 [RFC4868]"
	}
	return ""
}

// IKEv2Table is the ikev2_decryption_table text for keys, and how many
// SAs it left out because Wireshark cannot decrypt their algorithms.
func IKEv2Table(keys []ike.IKESAKeys) (string, int) {
	var b strings.Builder
	b.WriteString("# ikesvc save-keys: Wireshark's IKEv2 decryption table\n")
	skipped := 0
	for _, k := range keys {
		enc, integ := ikeEncr(k.Suite.Encr), ikeInteg(k.Suite.Integ)
		if enc == "" || integ == "" {
			skipped++
			continue
		}
		fmt.Fprintf(&b, "%016x,%016x,%s,%s,%q,%s,%s,%q\n", k.SPIi, k.SPIr,
			hex.EncodeToString(k.EI), hex.EncodeToString(k.ER), enc,
			hex.EncodeToString(k.AI), hex.EncodeToString(k.AR), integ)
	}
	return b.String(), skipped
}

// ESPTable is the esp_sa text for sas, and how many it left out.
func ESPTable(sas []ike.ESPSAKeys) (string, int) {
	var b strings.Builder
	b.WriteString("# ikesvc save-keys: Wireshark's ESP SAs\n")
	skipped := 0
	for _, sa := range sas {
		enc, auth := espEncr(sa.Encryption), espAuth(sa.Integrity)
		if enc == "" || auth == "" {
			skipped++
			continue
		}
		family := "IPv4"
		if !sa.Src.Unmap().Is4() {
			family = "IPv6"
		}
		authKey := "0x" + hex.EncodeToString(sa.IntegrityKey)
		if sa.Integrity == kernel.IntegNone {
			authKey = ""
		}
		fmt.Fprintf(&b, "%q,%q,%q,\"0x%08x\",%q,\"0x%s\",%q,%q\n", family, sa.Src.Unmap(), sa.Dst.Unmap(),
			sa.SPI, enc, hex.EncodeToString(sa.EncryptionKey), auth, authKey)
	}
	return b.String(), skipped
}

// Written says what Write put where.
type Written struct {
	Dir          string
	IKE, ESP     int // entries written
	Unsupported  int // SAs left out: algorithms Wireshark cannot decrypt
	IKEv2, ESPSA string
}

// Write replaces dir's ikev2_decryption_table and esp_sa with keys,
// creating dir (0700) when missing. Each file is written to a temporary
// file (0600) and renamed over the old one, so a reader never sees half.
func Write(dir string, ikeKeys []ike.IKESAKeys, espKeys []ike.ESPSAKeys) (Written, error) {
	w := Written{Dir: dir, IKEv2: filepath.Join(dir, IKEv2File), ESPSA: filepath.Join(dir, ESPFile)}
	if err := privateDir(dir); err != nil {
		return w, err
	}
	ikeText, ikeSkipped := IKEv2Table(ikeKeys)
	espText, espSkipped := ESPTable(espKeys)
	w.IKE, w.ESP = len(ikeKeys)-ikeSkipped, len(espKeys)-espSkipped
	w.Unsupported = ikeSkipped + espSkipped
	return w, errors.Join(replace(w.IKEv2, ikeText), replace(w.ESPSA, espText))
}

// privateDir makes dir (0700) or checks that it is a real directory of
// ours, and takes group and other access away: keys must not land in a
// directory someone else controls (a symlink planted under /tmp).
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save-keys: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("save-keys: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("save-keys: %s is not a directory of ours (%v): refusing to put keys there", dir, fi.Mode())
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("save-keys: %w", err)
		}
	}
	return nil
}

func replace(path, text string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save-keys: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600) // CreateTemp makes 0600; say it anyway
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save-keys: writing %s: %w", path, err)
	}
	return nil
}
