package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// testCipher is a deterministic stand-in for a real SK cipher: a XOR
// "encryption" with a fixed IV and a truncated HMAC-SHA-256 ICV over the
// whole message. It exercises the framing (IV, padding to 8-byte blocks,
// ICV placement, AAD boundary) without package suite.
type testCipher struct {
	key       byte
	blockSize int
}

func (c testCipher) IVLen() int     { return 4 }
func (c testCipher) ICVLen() int    { return 8 }
func (c testCipher) BlockSize() int { return c.blockSize }

func (c testCipher) icv(b []byte) []byte {
	m := hmac.New(sha256.New, []byte{c.key})
	m.Write(b)
	return m.Sum(nil)[:8]
}

func (c testCipher) Seal(msg []byte, bodyStart int) error {
	end := len(msg) - 8
	if (end-bodyStart-4)%c.blockSize != 0 {
		return fmt.Errorf("test cipher: %d bytes not a multiple of %d", end-bodyStart-4, c.blockSize)
	}
	copy(msg[bodyStart:], "IVIV")
	for i := bodyStart + 4; i < end; i++ {
		msg[i] ^= c.key
	}
	copy(msg[end:], c.icv(msg[:end]))
	return nil
}

func (c testCipher) Open(msg []byte, bodyStart int) ([]byte, error) {
	end := len(msg) - 8
	if !hmac.Equal(c.icv(msg[:end]), msg[end:]) {
		return nil, fmt.Errorf("test cipher: %w", ErrIntegrity)
	}
	for i := bodyStart + 4; i < end; i++ {
		msg[i] ^= c.key
	}
	return msg[bodyStart+4 : end], nil
}
