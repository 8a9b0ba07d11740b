package suite

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// ErrInvalidKE reports a peer's KE data that is malformed or fails the
// RFC 6989 checks. The error is an *InvalidKEError. The state machine
// treats it as a failed exchange (INVALID_SYNTAX); a group mismatch is a
// different matter (INVALID_KE_PAYLOAD), decided before calling here.
var ErrInvalidKE = errors.New("suite: invalid KE payload")

// InvalidKEError says which group and check failed.
type InvalidKEError struct {
	Group  DHGroup
	Reason string
}

func (e *InvalidKEError) Error() string {
	return fmt.Sprintf("suite: invalid %v public value: %s", e.Group, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidKE) true.
func (e *InvalidKEError) Is(target error) bool { return target == ErrInvalidKE }

// KeyExchange is one ephemeral Diffie-Hellman key pair.
type KeyExchange interface {
	Group() DHGroup
	// PublicKey is the KE payload data: g^x mod p padded to the modulus
	// length for MODP, x | y without the 0x04 prefix for ECP (RFC 5903 7),
	// the 32-byte u-coordinate for Curve25519 (RFC 8031).
	PublicKey() []byte
	// SharedSecret checks the peer's KE data (RFC 6989) and returns g^ir:
	// padded to the modulus length for MODP, the x coordinate for ECP, the
	// 32-byte X25519 output (never all zero) for Curve25519.
	SharedSecret(peer []byte) ([]byte, error)
}

// NewKeyExchange generates a key pair for group g. random supplies the
// MODP exponents; for the ECP groups and Curve25519, crypto/ecdh (Go 1.26)
// always uses a secure source and ignores it unless GODEBUG=cryptocustomrand=1.
//
// MODP groups use short exponents (RFC 3526 section 8, twice the group's
// security strength and then some): 224 bits for MODP-1024, 256 for 2048,
// 320 for 3072, 400 for 4096. The cost of one exponentiation grows with
// exponent bits times the square of the modulus size, so MODP-2048 with a
// 256-bit exponent costs about an eighth of a full 2048-bit one (the
// ~230 M instructions measured on the 386 build shrink to an estimated
// ~30 M; two exponentiations per exchange), still far above P-256 or
// X25519 (~5 M): prefer those. On the amd64 build host one exchange
// (generate + agree) measured: MODP-1024 0.3 ms, 2048 0.84 ms, 3072 2.2 ms,
// 4096 5.7 ms, P-256 0.054 ms, P-384 0.55 ms, X25519 0.075 ms
// (BenchmarkKeyExchange). math/big is not constant time; short-lived
// ephemeral exponents make that tolerable.
func NewKeyExchange(g DHGroup, random io.Reader) (KeyExchange, error) {
	switch g {
	case DHMODP1024, DHMODP2048, DHMODP3072, DHMODP4096:
		return newMODP(g, random)
	case DHECP256:
		return newECDH(g, ecdh.P256(), random)
	case DHECP384:
		return newECDH(g, ecdh.P384(), random)
	case DHCurve25519:
		return newECDH(g, ecdh.X25519(), random)
	}
	return nil, fmt.Errorf("suite: unsupported DH group %v", g)
}

type modpGroup struct {
	p        *big.Int
	pMinus1  *big.Int
	expBits  int
	byteSize int
}

// modp builds the group's parameters; primes from RFC 2409 6.2 (group 2)
// and RFC 3526 (groups 14-16), generator 2.
func modp(g DHGroup) modpGroup {
	var hexP string
	var bits int
	switch g {
	case DHMODP1024:
		hexP, bits = modp1024Hex, 224
	case DHMODP2048:
		hexP, bits = modp2048Hex, 256
	case DHMODP3072:
		hexP, bits = modp3072Hex, 320
	case DHMODP4096:
		hexP, bits = modp4096Hex, 400
	}
	p, _ := new(big.Int).SetString(hexP, 16)
	return modpGroup{p: p, pMinus1: new(big.Int).Sub(p, big.NewInt(1)), expBits: bits, byteSize: (p.BitLen() + 7) / 8}
}

type modpKE struct {
	group modpGroup
	g     DHGroup
	x     *big.Int
	pub   []byte
}

func newMODP(g DHGroup, random io.Reader) (*modpKE, error) {
	grp := modp(g)
	buf := make([]byte, grp.expBits/8)
	if _, err := io.ReadFull(random, buf); err != nil {
		return nil, fmt.Errorf("suite: %v private exponent: %w", g, err)
	}
	buf[0] |= 0x80 // full-length exponent: no weak short ones by chance
	x := new(big.Int).SetBytes(buf)
	y := new(big.Int).Exp(big.NewInt(2), x, grp.p)
	return &modpKE{group: grp, g: g, x: x, pub: y.FillBytes(make([]byte, grp.byteSize))}, nil
}

func (k *modpKE) Group() DHGroup    { return k.g }
func (k *modpKE) PublicKey() []byte { return k.pub }

func (k *modpKE) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != k.group.byteSize {
		return nil, &InvalidKEError{k.g, fmt.Sprintf("%d bytes, want %d", len(peer), k.group.byteSize)}
	}
	y := new(big.Int).SetBytes(peer)
	// RFC 6989 2.1: 1 < y < p-1. The groups are safe primes, so this range
	// check is the whole validation (no small subgroup besides {1, p-1}).
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(k.group.pMinus1) >= 0 {
		return nil, &InvalidKEError{k.g, "public value outside 1 < y < p-1"}
	}
	z := new(big.Int).Exp(y, k.x, k.group.p)
	return z.FillBytes(make([]byte, k.group.byteSize)), nil
}

type ecdhKE struct {
	g     DHGroup
	curve ecdh.Curve
	priv  *ecdh.PrivateKey
	pub   []byte
	nist  bool
}

func newECDH(g DHGroup, curve ecdh.Curve, random io.Reader) (*ecdhKE, error) {
	priv, err := curve.GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("suite: %v key: %w", g, err)
	}
	return ecdhFromPrivate(g, curve, priv), nil
}

func ecdhFromPrivate(g DHGroup, curve ecdh.Curve, priv *ecdh.PrivateKey) *ecdhKE {
	k := &ecdhKE{g: g, curve: curve, priv: priv, nist: g != DHCurve25519}
	k.pub = priv.PublicKey().Bytes()
	if k.nist {
		k.pub = k.pub[1:] // RFC 5903 7: x | y without the uncompressed-point byte
	}
	return k
}

func (k *ecdhKE) Group() DHGroup    { return k.g }
func (k *ecdhKE) PublicKey() []byte { return k.pub }

func (k *ecdhKE) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != len(k.pub) {
		return nil, &InvalidKEError{k.g, fmt.Sprintf("%d bytes, want %d", len(peer), len(k.pub))}
	}
	raw := peer
	if k.nist {
		raw = make([]byte, 1+len(peer))
		raw[0] = 4
		copy(raw[1:], peer)
	}
	// crypto/ecdh checks that a NIST point is on the curve and not the
	// point at infinity (RFC 6989 2.3).
	pub, err := k.curve.NewPublicKey(raw)
	if err != nil {
		return nil, &InvalidKEError{k.g, err.Error()}
	}
	z, err := k.priv.ECDH(pub)
	if err != nil {
		// X25519 with a low-order point yields all zeros, which crypto/ecdh
		// refuses (RFC 8031 2.2 / RFC 7748 6.1 require the check).
		return nil, &InvalidKEError{k.g, err.Error()}
	}
	if allZero(z) {
		return nil, &InvalidKEError{k.g, "all-zero shared secret"}
	}
	return z, nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, v := range b {
		acc |= v
	}
	return acc == 0
}
