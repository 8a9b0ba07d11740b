package kernel

import "fmt"

// Encryption is an ESP encryption transform, numbered as in the IANA
// "IKEv2 Transform Type 1" registry so the IKE layer can pass its
// negotiated transform ID straight through.
type Encryption uint16

const (
	EncrAESCBC           Encryption = 12 // ENCR_AES_CBC, RFC 3602
	EncrAESGCM16         Encryption = 20 // ENCR_AES_GCM_16 (16-octet ICV), RFC 4106
	EncrChaCha20Poly1305 Encryption = 28 // ENCR_CHACHA20_POLY1305, RFC 7634
)

// Integrity is an ESP integrity transform, numbered as in the IANA
// "IKEv2 Transform Type 3" registry. AEAD transforms use IntegNone.
type Integrity uint16

const (
	IntegNone            Integrity = 0  // NONE (with AEAD)
	IntegHMACSHA1_96     Integrity = 2  // AUTH_HMAC_SHA1_96, RFC 2404
	IntegHMACSHA2_256128 Integrity = 12 // AUTH_HMAC_SHA2_256_128, RFC 4868
	IntegHMACSHA2_384192 Integrity = 13 // AUTH_HMAC_SHA2_384_192
	IntegHMACSHA2_512256 Integrity = 14 // AUTH_HMAC_SHA2_512_256
)

// saltLen is the implicit-nonce salt appended to AEAD keys (RFC 4106 §8.1,
// RFC 7634 §4); the kernel expects it as the last 4 key bytes.
const saltLen = 4

type encryptionInfo struct {
	name     string // IKE-style name for logs and `show ipsec sa`
	kernel   string // Linux crypto API name
	aead     bool
	icvBits  int   // AEAD only
	keyBytes []int // allowed key lengths including any salt
}

// encryptionOf is a switch rather than a package map so the table cannot be
// mutated at run time.
func encryptionOf(e Encryption) (encryptionInfo, bool) {
	switch e {
	case EncrAESCBC:
		return encryptionInfo{name: "aes-cbc", kernel: "cbc(aes)", keyBytes: []int{16, 24, 32}}, true
	case EncrAESGCM16:
		return encryptionInfo{name: "aes-gcm-16", kernel: "rfc4106(gcm(aes))", aead: true, icvBits: 128, keyBytes: []int{16 + saltLen, 24 + saltLen, 32 + saltLen}}, true
	case EncrChaCha20Poly1305:
		return encryptionInfo{name: "chacha20-poly1305", kernel: "rfc7539esp(chacha20,poly1305)", aead: true, icvBits: 128, keyBytes: []int{32 + saltLen}}, true
	}
	return encryptionInfo{}, false
}

type integrityInfo struct {
	name      string
	kernel    string
	truncBits int
	keyBytes  int // RFC 4868 §2.1.1: key length equals the hash output length
}

func integrityOf(i Integrity) (integrityInfo, bool) {
	switch i {
	case IntegHMACSHA1_96:
		return integrityInfo{name: "hmac-sha1-96", kernel: "hmac(sha1)", truncBits: 96, keyBytes: 20}, true
	case IntegHMACSHA2_256128:
		return integrityInfo{name: "hmac-sha2-256-128", kernel: "hmac(sha256)", truncBits: 128, keyBytes: 32}, true
	case IntegHMACSHA2_384192:
		return integrityInfo{name: "hmac-sha2-384-192", kernel: "hmac(sha384)", truncBits: 192, keyBytes: 48}, true
	case IntegHMACSHA2_512256:
		return integrityInfo{name: "hmac-sha2-512-256", kernel: "hmac(sha512)", truncBits: 256, keyBytes: 64}, true
	}
	return integrityInfo{}, false
}

func (e Encryption) String() string {
	if info, ok := encryptionOf(e); ok {
		return info.name
	}
	return fmt.Sprintf("encr(%d)", uint16(e))
}

// KernelName returns the Linux crypto API name of e ("cbc(aes)",
// "rfc4106(gcm(aes))", ...) and, for AEAD, its ICV length in bits.
func (e Encryption) KernelName() (name string, icvBits int, ok bool) {
	info, ok := encryptionOf(e)
	return info.kernel, info.icvBits, ok
}

// IsAEAD reports whether e is a combined-mode cipher (no separate integrity).
func (e Encryption) IsAEAD() bool {
	info, _ := encryptionOf(e)
	return info.aead
}

func (i Integrity) String() string {
	if i == IntegNone {
		return "none"
	}
	if info, ok := integrityOf(i); ok {
		return info.name
	}
	return fmt.Sprintf("integ(%d)", uint16(i))
}

// KernelName returns the Linux crypto API name of i ("hmac(sha256)") and the
// ICV truncation in bits.
func (i Integrity) KernelName() (name string, truncBits int, ok bool) {
	info, ok := integrityOf(i)
	return info.kernel, info.truncBits, ok
}

// checkAlgorithms validates the transforms and key lengths of sa.
func checkAlgorithms(sa *SA) error {
	enc, ok := encryptionOf(sa.Encryption)
	if !ok {
		return fmt.Errorf("unsupported encryption transform %d", uint16(sa.Encryption))
	}
	if !containsInt(enc.keyBytes, len(sa.EncryptionKey)) {
		return fmt.Errorf("%s key is %d bytes, want one of %v (AEAD keys include the %d-byte salt)",
			enc.name, len(sa.EncryptionKey), enc.keyBytes, saltLen)
	}
	if enc.aead {
		if sa.Integrity != IntegNone || len(sa.IntegrityKey) != 0 {
			return fmt.Errorf("%s is AEAD: integrity must be none, got %s with a %d-byte key",
				enc.name, sa.Integrity, len(sa.IntegrityKey))
		}
		return nil
	}
	integ, ok := integrityOf(sa.Integrity)
	if !ok {
		return fmt.Errorf("%s needs an integrity transform, got %s", enc.name, sa.Integrity)
	}
	if len(sa.IntegrityKey) != integ.keyBytes {
		return fmt.Errorf("%s key is %d bytes, want %d", integ.name, len(sa.IntegrityKey), integ.keyBytes)
	}
	return nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
