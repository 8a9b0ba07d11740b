package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"

	"alixsec.dev/ikesvc/wire"
)

// NewSKCipher returns the SK payload protection for one direction of an
// IKE SA with suite s (see wire.SKCipher for the layout):
//   - AES-CBC + HMAC (RFC 7296 3.14): random 16-byte IV from random,
//     encrypt-then-MAC, the truncated HMAC over the whole message from the
//     IKE header through the ciphertext, compared in constant time.
//   - AES-GCM-16 (RFC 5282) and ChaCha20-Poly1305 (RFC 7634): 8-byte
//     explicit IV from a per-key counter, nonce = 4-byte salt (last bytes
//     of encrKey) | IV, AAD = everything before the IV.
//
// The returned value is safe for concurrent use.
func NewSKCipher(s Suite, encrKey, integKey []byte, random io.Reader) (wire.SKCipher, error) {
	if len(encrKey) != s.Encr.KeyLen() {
		return nil, fmt.Errorf("suite: %v key of %d bytes, want %d", s.Encr.ID, len(encrKey), s.Encr.KeyLen())
	}
	switch s.Encr.ID {
	case EncrAESCBC:
		return newCBCHMAC(s.Integ, encrKey, integKey, random)
	case EncrAESGCM16:
		block, err := aes.NewCipher(encrKey[:len(encrKey)-4])
		if err != nil {
			return nil, fmt.Errorf("suite: AES-GCM key: %w", err)
		}
		a, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("suite: AES-GCM: %w", err)
		}
		return newAEADCipher(a, encrKey[len(encrKey)-4:]), nil
	case EncrChaCha20Poly1305:
		a, err := chacha20poly1305.New(encrKey[:len(encrKey)-4])
		if err != nil {
			return nil, fmt.Errorf("suite: ChaCha20-Poly1305 key: %w", err)
		}
		return newAEADCipher(a, encrKey[len(encrKey)-4:]), nil
	}
	return nil, fmt.Errorf("suite: unsupported cipher %v", s.Encr.ID)
}

func integHash(i IntegID) func() hash.Hash {
	switch i {
	case IntegHMACSHA1_96:
		return sha1.New
	case IntegHMACSHA2_256128:
		return sha256.New
	case IntegHMACSHA2_384192:
		return sha512.New384
	case IntegHMACSHA2_512256:
		return sha512.New
	}
	return nil
}

type cbcHMAC struct {
	block  cipher.Block
	random io.Reader
	icvLen int

	mu  sync.Mutex // guards mac and sum
	mac hash.Hash
	sum [sha512.Size]byte
}

func newCBCHMAC(integ IntegID, encrKey, integKey []byte, random io.Reader) (*cbcHMAC, error) {
	h := integHash(integ)
	if h == nil {
		return nil, fmt.Errorf("suite: AES-CBC needs an integrity algorithm, got %v", integ)
	}
	if len(integKey) != integ.KeyLen() {
		return nil, fmt.Errorf("suite: %v key of %d bytes, want %d", integ, len(integKey), integ.KeyLen())
	}
	if random == nil {
		return nil, fmt.Errorf("suite: AES-CBC needs a random source for IVs")
	}
	block, err := aes.NewCipher(encrKey)
	if err != nil {
		return nil, fmt.Errorf("suite: AES-CBC key: %w", err)
	}
	return &cbcHMAC{block: block, random: random, icvLen: integ.ICVLen(), mac: hmac.New(h, integKey)}, nil
}

func (c *cbcHMAC) IVLen() int     { return aes.BlockSize }
func (c *cbcHMAC) ICVLen() int    { return c.icvLen }
func (c *cbcHMAC) BlockSize() int { return aes.BlockSize }

// icv computes the truncated HMAC of msg into c.sum; the caller holds c.mu.
func (c *cbcHMAC) icv(msg []byte) []byte {
	c.mac.Reset()
	c.mac.Write(msg)
	return c.mac.Sum(c.sum[:0])[:c.icvLen]
}

func (c *cbcHMAC) Seal(msg []byte, bodyStart int) error {
	ctEnd := len(msg) - c.icvLen
	ctStart := bodyStart + aes.BlockSize
	if bodyStart < 0 || ctStart > ctEnd || (ctEnd-ctStart)%aes.BlockSize != 0 {
		return fmt.Errorf("suite: AES-CBC seal: %d plaintext bytes are not whole blocks", ctEnd-ctStart)
	}
	iv := msg[bodyStart:ctStart]
	if _, err := io.ReadFull(c.random, iv); err != nil {
		return fmt.Errorf("suite: AES-CBC IV: %w", err)
	}
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(msg[ctStart:ctEnd], msg[ctStart:ctEnd])
	c.mu.Lock()
	copy(msg[ctEnd:], c.icv(msg[:ctEnd]))
	c.mu.Unlock()
	return nil
}

func (c *cbcHMAC) Open(msg []byte, bodyStart int) ([]byte, error) {
	ctEnd := len(msg) - c.icvLen
	ctStart := bodyStart + aes.BlockSize
	if bodyStart < 0 || ctStart > ctEnd {
		return nil, fmt.Errorf("suite: AES-CBC open: message too short: %w", wire.ErrIntegrity)
	}
	c.mu.Lock()
	ok := hmac.Equal(c.icv(msg[:ctEnd]), msg[ctEnd:])
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("suite: AES-CBC open: ICV mismatch: %w", wire.ErrIntegrity)
	}
	ct := msg[ctStart:ctEnd]
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("suite: AES-CBC open: %d ciphertext bytes are not whole blocks: %w", len(ct), wire.ErrIntegrity)
	}
	cipher.NewCBCDecrypter(c.block, msg[bodyStart:ctStart]).CryptBlocks(ct, ct)
	return ct, nil
}

// aeadIVLen is the explicit IV of RFC 5282 and RFC 7634.
const aeadIVLen = 8

type aeadCipher struct {
	aead cipher.AEAD
	salt [4]byte
	// counter makes IVs unique under this key without a random source;
	// RFC 5282 and 7634 require uniqueness, not unpredictability.
	counter atomic.Uint64
}

func newAEADCipher(a cipher.AEAD, salt []byte) *aeadCipher {
	c := &aeadCipher{aead: a}
	copy(c.salt[:], salt)
	return c
}

func (c *aeadCipher) IVLen() int     { return aeadIVLen }
func (c *aeadCipher) ICVLen() int    { return c.aead.Overhead() }
func (c *aeadCipher) BlockSize() int { return 1 }

func (c *aeadCipher) nonce(iv []byte) [12]byte {
	var n [12]byte
	copy(n[:4], c.salt[:])
	copy(n[4:], iv)
	return n
}

func (c *aeadCipher) Seal(msg []byte, bodyStart int) error {
	ptStart, ptEnd := bodyStart+aeadIVLen, len(msg)-c.aead.Overhead()
	if bodyStart < 0 || ptStart > ptEnd {
		return fmt.Errorf("suite: AEAD seal: message too short for IV and ICV")
	}
	iv := c.counter.Add(1)
	if iv == 0 {
		return fmt.Errorf("suite: AEAD seal: IV counter exhausted")
	}
	binary.BigEndian.PutUint64(msg[bodyStart:], iv)
	n := c.nonce(msg[bodyStart:ptStart])
	pt := msg[ptStart:ptEnd]
	c.aead.Seal(pt[:0], n[:], pt, msg[:bodyStart])
	return nil
}

func (c *aeadCipher) Open(msg []byte, bodyStart int) ([]byte, error) {
	ctStart := bodyStart + aeadIVLen
	if bodyStart < 0 || ctStart+c.aead.Overhead() > len(msg) {
		return nil, fmt.Errorf("suite: AEAD open: message too short: %w", wire.ErrIntegrity)
	}
	n := c.nonce(msg[bodyStart:ctStart])
	ct := msg[ctStart:]
	pt, err := c.aead.Open(ct[:0], n[:], ct, msg[:bodyStart])
	if err != nil {
		return nil, fmt.Errorf("suite: AEAD open: %w", wire.ErrIntegrity)
	}
	return pt, nil
}
