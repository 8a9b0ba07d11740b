package suite

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"math/big"
)

// PrivateKeyBytes returns the private half of k, for a daemon that saves
// an exchange in flight across its own restart (the state lives in RAM
// only): the MODP exponent big-endian, the ECDH scalar as crypto/ecdh
// encodes it. RestoreKeyExchange turns it back into the same key pair.
func PrivateKeyBytes(k KeyExchange) ([]byte, error) {
	switch k := k.(type) {
	case *modpKE:
		return k.x.Bytes(), nil
	case *ecdhKE:
		return k.priv.Bytes(), nil
	}
	return nil, fmt.Errorf("suite: cannot export a %T key exchange", k)
}

// RestoreKeyExchange rebuilds the key pair of group g from PrivateKeyBytes.
func RestoreKeyExchange(g DHGroup, priv []byte) (KeyExchange, error) {
	if len(priv) == 0 {
		return nil, errors.New("suite: empty private key")
	}
	switch g {
	case DHMODP1024, DHMODP2048, DHMODP3072, DHMODP4096:
		grp := modp(g)
		x := new(big.Int).SetBytes(priv)
		if x.BitLen() > grp.p.BitLen() {
			return nil, fmt.Errorf("suite: %v private exponent of %d bits", g, x.BitLen())
		}
		y := new(big.Int).Exp(big.NewInt(2), x, grp.p)
		return &modpKE{group: grp, g: g, x: x, pub: y.FillBytes(make([]byte, grp.byteSize))}, nil
	case DHECP256, DHECP384, DHCurve25519:
		curve := map[DHGroup]ecdh.Curve{DHECP256: ecdh.P256(), DHECP384: ecdh.P384(), DHCurve25519: ecdh.X25519()}[g]
		k, err := curve.NewPrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("suite: %v private key: %w", g, err)
		}
		return ecdhFromPrivate(g, curve, k), nil
	}
	return nil, fmt.Errorf("suite: unsupported DH group %v", g)
}
