// Package suite holds IKEv2's algorithms: transform IDs, strongSwan-style
// proposal strings and their negotiation, the PRFs and key derivation of
// RFC 7296, SK payload protection (package wire's SKCipher) and the
// Diffie-Hellman groups. It is pure Go for the 386 softfloat target.
package suite

import "fmt"

// EncrID is an encryption transform ID (IANA "Transform Type 1").
type EncrID uint16

const (
	EncrAESCBC           EncrID = 12
	EncrAESGCM16         EncrID = 20 // 16-byte ICV (RFC 4106, RFC 5282)
	EncrChaCha20Poly1305 EncrID = 28 // RFC 7634
)

// PRFID is a pseudo-random function transform ID (IANA "Transform Type 2").
type PRFID uint16

const (
	PRFHMACSHA1     PRFID = 2
	PRFHMACSHA2_256 PRFID = 5
	PRFHMACSHA2_384 PRFID = 6
	PRFHMACSHA2_512 PRFID = 7
)

// IntegID is an integrity transform ID (IANA "Transform Type 3"). IntegNone
// is what AEAD suites use.
type IntegID uint16

const (
	IntegNone            IntegID = 0
	IntegHMACSHA1_96     IntegID = 2
	IntegHMACSHA2_256128 IntegID = 12
	IntegHMACSHA2_384192 IntegID = 13
	IntegHMACSHA2_512256 IntegID = 14
)

// DHGroup is a Diffie-Hellman group (IANA "Transform Type 4"). DHNone is a
// CHILD_SA without PFS.
type DHGroup uint16

const (
	DHNone       DHGroup = 0
	DHMODP1024   DHGroup = 2
	DHMODP2048   DHGroup = 14
	DHMODP3072   DHGroup = 15
	DHMODP4096   DHGroup = 16
	DHECP256     DHGroup = 19
	DHECP384     DHGroup = 20
	DHCurve25519 DHGroup = 31
)

// ESN is an Extended Sequence Numbers transform ID (IANA "Transform Type 5").
type ESN uint16

const (
	ESNNo  ESN = 0
	ESNYes ESN = 1
)

func (e EncrID) String() string {
	switch e {
	case EncrAESCBC:
		return "AES_CBC"
	case EncrAESGCM16:
		return "AES_GCM_16"
	case EncrChaCha20Poly1305:
		return "CHACHA20_POLY1305"
	}
	return fmt.Sprintf("ENCR(%d)", uint16(e))
}

// AEAD reports whether e is an AEAD (no separate integrity transform).
func (e EncrID) AEAD() bool { return e == EncrAESGCM16 || e == EncrChaCha20Poly1305 }

func (p PRFID) String() string {
	switch p {
	case PRFHMACSHA1:
		return "PRF_HMAC_SHA1"
	case PRFHMACSHA2_256:
		return "PRF_HMAC_SHA2_256"
	case PRFHMACSHA2_384:
		return "PRF_HMAC_SHA2_384"
	case PRFHMACSHA2_512:
		return "PRF_HMAC_SHA2_512"
	}
	return fmt.Sprintf("PRF(%d)", uint16(p))
}

func (i IntegID) String() string {
	switch i {
	case IntegNone:
		return "NONE"
	case IntegHMACSHA1_96:
		return "AUTH_HMAC_SHA1_96"
	case IntegHMACSHA2_256128:
		return "AUTH_HMAC_SHA2_256_128"
	case IntegHMACSHA2_384192:
		return "AUTH_HMAC_SHA2_384_192"
	case IntegHMACSHA2_512256:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return fmt.Sprintf("INTEG(%d)", uint16(i))
}

func (g DHGroup) String() string {
	switch g {
	case DHNone:
		return "NONE"
	case DHMODP1024:
		return "MODP_1024"
	case DHMODP2048:
		return "MODP_2048"
	case DHMODP3072:
		return "MODP_3072"
	case DHMODP4096:
		return "MODP_4096"
	case DHECP256:
		return "ECP_256"
	case DHECP384:
		return "ECP_384"
	case DHCurve25519:
		return "CURVE_25519"
	}
	return fmt.Sprintf("DH(%d)", uint16(g))
}

func (e ESN) String() string {
	switch e {
	case ESNNo:
		return "NO_ESN"
	case ESNYes:
		return "ESN"
	}
	return fmt.Sprintf("ESN_ID(%d)", uint16(e))
}

// Encr is an encryption algorithm with its key size.
type Encr struct {
	ID      EncrID
	KeyBits int // 128 or 256 for AES; 256 for ChaCha20-Poly1305
}

// KeyLen is the key material length taken from KEYMAT or prf+, including
// the 4-byte salt of the AEADs (RFC 4106 8.1, RFC 5282 7.1, RFC 7634 2).
func (e Encr) KeyLen() int {
	if e.ID.AEAD() {
		return e.KeyBits/8 + 4
	}
	return e.KeyBits / 8
}

// ICVLen is the AEAD's tag length (16 for both AEADs here), 0 otherwise.
func (e Encr) ICVLen() int {
	if e.ID.AEAD() {
		return 16
	}
	return 0
}

// KernelName is the Linux crypto API name XFRM wants for this algorithm
// (its key is KeyLen bytes, salt last for the AEADs; ICV 128 bits).
func (e Encr) KernelName() string {
	switch e.ID {
	case EncrAESCBC:
		return "cbc(aes)"
	case EncrAESGCM16:
		return "rfc4106(gcm(aes))"
	case EncrChaCha20Poly1305:
		return "rfc7539esp(chacha20,poly1305)"
	}
	return ""
}

// KeyLen is the integrity key length (the hash's output size, RFC 4868 2.1.1).
func (i IntegID) KeyLen() int {
	switch i {
	case IntegHMACSHA1_96:
		return 20
	case IntegHMACSHA2_256128:
		return 32
	case IntegHMACSHA2_384192:
		return 48
	case IntegHMACSHA2_512256:
		return 64
	}
	return 0
}

// ICVLen is the truncated MAC length in bytes.
func (i IntegID) ICVLen() int {
	switch i {
	case IntegHMACSHA1_96:
		return 12
	case IntegHMACSHA2_256128:
		return 16
	case IntegHMACSHA2_384192:
		return 24
	case IntegHMACSHA2_512256:
		return 32
	}
	return 0
}

// KernelName is the Linux crypto API name for XFRM (truncation ICVLen*8 bits).
func (i IntegID) KernelName() string {
	switch i {
	case IntegHMACSHA1_96:
		return "hmac(sha1)"
	case IntegHMACSHA2_256128:
		return "hmac(sha256)"
	case IntegHMACSHA2_384192:
		return "hmac(sha384)"
	case IntegHMACSHA2_512256:
		return "hmac(sha512)"
	}
	return ""
}
