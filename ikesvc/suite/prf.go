package suite

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// PRF is one of the HMAC pseudo-random functions of RFC 7296 3.3.2 and
// RFC 4868. The zero value is unusable; get one from NewPRF.
type PRF struct {
	id      PRFID
	newHash func() hash.Hash
	size    int
}

// NewPRF returns the PRF for id.
func NewPRF(id PRFID) (PRF, error) {
	switch id {
	case PRFHMACSHA1:
		return PRF{id, sha1.New, sha1.Size}, nil
	case PRFHMACSHA2_256:
		return PRF{id, sha256.New, sha256.Size}, nil
	case PRFHMACSHA2_384:
		return PRF{id, sha512.New384, sha512.Size384}, nil
	case PRFHMACSHA2_512:
		return PRF{id, sha512.New, sha512.Size}, nil
	}
	return PRF{}, fmt.Errorf("suite: unsupported PRF %v", id)
}

// ID is the transform ID.
func (p PRF) ID() PRFID { return p.id }

// Size is the output length, which is also the preferred key length
// (SK_d, SK_pi, SK_pr are this long, RFC 7296 2.14).
func (p PRF) Size() int { return p.size }

// New returns a keyed HMAC for callers that stream data (e.g. the AUTH
// payload's signed octets).
func (p PRF) New(key []byte) hash.Hash { return hmac.New(p.newHash, key) }

// Sum appends prf(key, data[0] | data[1] | ...) to dst.
func (p PRF) Sum(dst, key []byte, data ...[]byte) []byte {
	m := hmac.New(p.newHash, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(dst)
}

// Plus is prf+ (RFC 7296 2.13): the first n bytes of
// T1 | T2 | ... where T1 = prf(K, S | 0x01) and Tk = prf(K, Tk-1 | S | k).
// It fails beyond 255 blocks, where the one-byte counter would wrap.
func (p PRF) Plus(key, seed []byte, n int) ([]byte, error) {
	if n < 0 || n > 255*p.size {
		return nil, fmt.Errorf("suite: prf+ of %d bytes exceeds 255 blocks of %v", n, p.id)
	}
	out := make([]byte, 0, n+p.size)
	m := hmac.New(p.newHash, key)
	var prev []byte
	for counter := byte(1); len(out) < n; counter++ {
		m.Reset()
		m.Write(prev)
		m.Write(seed)
		m.Write([]byte{counter})
		start := len(out)
		out = m.Sum(out)
		prev = out[start:]
	}
	return out[:n:n], nil
}
