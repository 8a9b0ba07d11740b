// Package updfile is alixsec's signed firmware update file: a kernel and
// an initramfs for one board and version, with an ed25519 signature over a
// header that carries their sizes and SHA-256 digests.
//
// Keys use signify's encoding (OpenBSD signify(1), also read by minisign's
// users): a public key is the base64 of "Ed", an 8-byte key number and the
// 32-byte ed25519 key, e.g. "RWQ...". The key number in a signature picks
// the trusted key that must verify it. Only crypto/ed25519 of the standard
// library is used: no dependency, and a format others already know.
package updfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyNum identifies a key pair (random, chosen when the pair is made).
type KeyNum [8]byte

func (k KeyNum) String() string { return hex.EncodeToString(k[:]) }

// PublicKey is a trusted update signing key.
type PublicKey struct {
	Num KeyNum
	Key ed25519.PublicKey
}

// SecretKey signs update files.
type SecretKey struct {
	Num KeyNum
	Key ed25519.PrivateKey
}

var (
	algEd = []byte("Ed")
	kdfBK = []byte("BK")
)

// GenerateKey makes a new key pair.
func GenerateKey() (PublicKey, SecretKey, error) {
	pub, sec, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return PublicKey{}, SecretKey{}, fmt.Errorf("generate update key: %w", err)
	}
	var num KeyNum
	if _, err := rand.Read(num[:]); err != nil {
		return PublicKey{}, SecretKey{}, fmt.Errorf("generate update key number: %w", err)
	}
	return PublicKey{Num: num, Key: pub}, SecretKey{Num: num, Key: sec}, nil
}

// Public returns the public half of k.
func (k SecretKey) Public() PublicKey {
	return PublicKey{Num: k.Num, Key: k.Key.Public().(ed25519.PublicKey)}
}

// String is the key in signify's base64 form (one word, as `set system
// update trusted-key NAME KEY` takes it).
func (k PublicKey) String() string {
	b := append(append(append([]byte{}, algEd...), k.Num[:]...), k.Key...)
	return base64.StdEncoding.EncodeToString(b)
}

// ParsePublicKey reads a key in signify's base64 form; a whole signify
// .pub file (with its "untrusted comment:" line) is accepted too.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := decodeKeyText(s)
	if err != nil {
		return PublicKey{}, err
	}
	if len(b) != 2+8+ed25519.PublicKeySize || !bytes.Equal(b[:2], algEd) {
		return PublicKey{}, errors.New("not an ed25519 signify public key (base64 of Ed, key number and 32-byte key)")
	}
	var k PublicKey
	copy(k.Num[:], b[2:10])
	k.Key = ed25519.PublicKey(append([]byte{}, b[10:]...))
	return k, nil
}

// decodeKeyText strips an optional comment line and decodes the base64.
func decodeKeyText(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "untrusted comment:") {
		_, rest, ok := strings.Cut(s, "\n")
		if !ok {
			return nil, errors.New("key file has a comment line but no key")
		}
		s = strings.TrimSpace(rest)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key is not base64: %w", err)
	}
	return b, nil
}

// MarshalSecret is k as an unencrypted signify secret key file ("Ed",
// "BK", zero KDF rounds, salt, checksum, key number, 64-byte key).
func (k SecretKey) MarshalSecret() []byte {
	var b bytes.Buffer
	b.Write(algEd)
	b.Write(kdfBK)
	binary.Write(&b, binary.BigEndian, uint32(0))
	b.Write(make([]byte, 16)) // salt, unused without a passphrase
	sum := sha512.Sum512(k.Key)
	b.Write(sum[:8])
	b.Write(k.Num[:])
	b.Write(k.Key)
	return []byte("untrusted comment: alixsec update secret key\n" + base64.StdEncoding.EncodeToString(b.Bytes()) + "\n")
}

// ParseSecretKey reads a file written by MarshalSecret.
func ParseSecretKey(data []byte) (SecretKey, error) {
	b, err := decodeKeyText(string(data))
	if err != nil {
		return SecretKey{}, err
	}
	if len(b) != 2+2+4+16+8+8+ed25519.PrivateKeySize || !bytes.Equal(b[:2], algEd) || !bytes.Equal(b[2:4], kdfBK) {
		return SecretKey{}, errors.New("not an ed25519 signify secret key")
	}
	if rounds := binary.BigEndian.Uint32(b[4:8]); rounds != 0 {
		return SecretKey{}, errors.New("passphrase-protected signify keys are not supported")
	}
	var k SecretKey
	copy(k.Num[:], b[32:40])
	k.Key = ed25519.PrivateKey(append([]byte{}, b[40:]...))
	if sum := sha512.Sum512(k.Key); !bytes.Equal(sum[:8], b[24:32]) {
		return SecretKey{}, errors.New("secret key checksum mismatch (damaged file)")
	}
	return k, nil
}

// MarshalPublic is k as a signify public key file.
func (k PublicKey) MarshalPublic() []byte {
	return []byte("untrusted comment: alixsec update public key " + k.Num.String() + "\n" + k.String() + "\n")
}

// Key file names in a key directory.
const (
	SecretKeyFile = "update.sec"
	PublicKeyFile = "update.pub"
)

// LoadOrCreateKeyDir returns the key pair kept in dir, making it first
// when dir has none (a fresh build machine signs with its own key; its
// images trust that key).
func LoadOrCreateKeyDir(dir string) (PublicKey, SecretKey, bool, error) {
	secPath := filepath.Join(dir, SecretKeyFile)
	data, err := os.ReadFile(secPath)
	if err == nil {
		sec, err := ParseSecretKey(data)
		if err != nil {
			return PublicKey{}, SecretKey{}, false, fmt.Errorf("%s: %w", secPath, err)
		}
		return sec.Public(), sec, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return PublicKey{}, SecretKey{}, false, fmt.Errorf("update key: %w", err)
	}
	pub, sec, err := GenerateKey()
	if err != nil {
		return PublicKey{}, SecretKey{}, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return PublicKey{}, SecretKey{}, false, fmt.Errorf("update key dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, PublicKeyFile), pub.MarshalPublic(), 0o644); err != nil {
		return PublicKey{}, SecretKey{}, false, fmt.Errorf("update key: %w", err)
	}
	// The secret key last and by rename: a half-written pair is never
	// taken for a whole one.
	tmp := secPath + ".tmp"
	if err := os.WriteFile(tmp, sec.MarshalSecret(), 0o600); err != nil {
		return PublicKey{}, SecretKey{}, false, fmt.Errorf("update key: %w", err)
	}
	if err := os.Rename(tmp, secPath); err != nil {
		return PublicKey{}, SecretKey{}, false, fmt.Errorf("update key: %w", err)
	}
	return pub, sec, true, nil
}

// BakedKeyPath is where the image builder puts its signing key's public
// half in the firmware's initramfs.
const BakedKeyPath = "/etc/alixsec/update.pub"
