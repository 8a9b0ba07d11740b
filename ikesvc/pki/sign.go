package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	_ "crypto/sha256" // hashes named by the schemes below
	_ "crypto/sha512"
)

// SignatureScheme is one RFC 7427 signature algorithm we produce and accept.
type SignatureScheme int

// Schemes, by their X.509 names.
const (
	SHA256WithRSA SignatureScheme = iota + 1 // RSASSA-PKCS1-v1_5
	SHA384WithRSA
	SHA512WithRSA
	RSAPSSWithSHA256 // RSASSA-PSS, MGF1 with the same hash
	RSAPSSWithSHA384
	RSAPSSWithSHA512
	ECDSAWithSHA256 // signature value is DER Ecdsa-Sig-Value (RFC 7427 section 3)
	ECDSAWithSHA384
	ECDSAWithSHA512
	PureEd25519
)

var schemeNames = map[SignatureScheme]string{
	SHA256WithRSA: "sha256WithRSAEncryption", SHA384WithRSA: "sha384WithRSAEncryption",
	SHA512WithRSA: "sha512WithRSAEncryption", RSAPSSWithSHA256: "RSASSA-PSS/SHA-256",
	RSAPSSWithSHA384: "RSASSA-PSS/SHA-384", RSAPSSWithSHA512: "RSASSA-PSS/SHA-512",
	ECDSAWithSHA256: "ecdsa-with-SHA256", ECDSAWithSHA384: "ecdsa-with-SHA384",
	ECDSAWithSHA512: "ecdsa-with-SHA512", PureEd25519: "Ed25519",
}

func (s SignatureScheme) String() string {
	if n, ok := schemeNames[s]; ok {
		return n
	}
	return fmt.Sprintf("SignatureScheme(%d)", int(s))
}

// Hash returns the hash the scheme signs with; 0 for Ed25519, which signs
// the message itself.
func (s SignatureScheme) Hash() crypto.Hash {
	switch s {
	case SHA256WithRSA, RSAPSSWithSHA256, ECDSAWithSHA256:
		return crypto.SHA256
	case SHA384WithRSA, RSAPSSWithSHA384, ECDSAWithSHA384:
		return crypto.SHA384
	case SHA512WithRSA, RSAPSSWithSHA512, ECDSAWithSHA512:
		return crypto.SHA512
	}
	return 0
}

// HashAlgorithm is an IKEv2 hash algorithm of the SIGNATURE_HASH_ALGORITHMS
// notify (RFC 7427 section 4, RFC 8420 for Identity).
type HashAlgorithm uint16

const (
	HashSHA1     HashAlgorithm = 1
	HashSHA2_256 HashAlgorithm = 2
	HashSHA2_384 HashAlgorithm = 3
	HashSHA2_512 HashAlgorithm = 4
	HashIdentity HashAlgorithm = 5
)

// SupportedHashAlgorithms is what we announce in SIGNATURE_HASH_ALGORITHMS.
func SupportedHashAlgorithms() []HashAlgorithm {
	return []HashAlgorithm{HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity}
}

// HashAlgorithm returns the notify code of the scheme's hash.
func (s SignatureScheme) HashAlgorithm() HashAlgorithm {
	switch s.Hash() {
	case crypto.SHA256:
		return HashSHA2_256
	case crypto.SHA384:
		return HashSHA2_384
	case crypto.SHA512:
		return HashSHA2_512
	}
	return HashIdentity
}

// Algorithm is a parsed RFC 7427 AlgorithmIdentifier.
type Algorithm struct {
	Scheme SignatureScheme
	// SaltLength of RSASSA-PSS; 0 means the hash length, the value we send.
	SaltLength int
}

func (a Algorithm) String() string { return a.Scheme.String() }

func (a Algorithm) saltLength() int {
	if a.SaltLength == 0 {
		return a.Scheme.Hash().Size()
	}
	return a.SaltLength
}

var (
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

var asn1NULL = asn1.RawValue{FullBytes: []byte{0x05, 0x00}}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// pssParameters is RSASSA-PSS-params (RFC 4055); trailerField is always 1.
type pssParameters struct {
	Hash         algorithmIdentifier `asn1:"explicit,tag:0"`
	MGF          algorithmIdentifier `asn1:"explicit,tag:1"`
	SaltLength   int                 `asn1:"explicit,tag:2,optional,default:20"`
	TrailerField int                 `asn1:"explicit,tag:3,optional,default:1"`
}

func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA256:
		return oidSHA256
	case crypto.SHA384:
		return oidSHA384
	}
	return oidSHA512
}

// AlgorithmIdentifier returns the DER AlgorithmIdentifier that precedes the
// signature in RFC 7427 authentication data. RSA PKCS#1 algorithms carry NULL
// parameters, ECDSA and Ed25519 none, RSASSA-PSS the full RSASSA-PSS-params.
func (a Algorithm) AlgorithmIdentifier() ([]byte, error) {
	ai := algorithmIdentifier{}
	switch a.Scheme {
	case SHA256WithRSA:
		ai = algorithmIdentifier{oidSHA256WithRSA, asn1NULL}
	case SHA384WithRSA:
		ai = algorithmIdentifier{oidSHA384WithRSA, asn1NULL}
	case SHA512WithRSA:
		ai = algorithmIdentifier{oidSHA512WithRSA, asn1NULL}
	case ECDSAWithSHA256:
		ai.Algorithm = oidECDSASHA256
	case ECDSAWithSHA384:
		ai.Algorithm = oidECDSASHA384
	case ECDSAWithSHA512:
		ai.Algorithm = oidECDSASHA512
	case PureEd25519:
		ai.Algorithm = oidEd25519
	case RSAPSSWithSHA256, RSAPSSWithSHA384, RSAPSSWithSHA512:
		hashAI := algorithmIdentifier{hashOID(a.Scheme.Hash()), asn1NULL}
		hashDER, err := asn1.Marshal(hashAI)
		if err != nil {
			return nil, err
		}
		params, err := asn1.Marshal(pssParameters{
			Hash:         hashAI,
			MGF:          algorithmIdentifier{oidMGF1, asn1.RawValue{FullBytes: hashDER}},
			SaltLength:   a.saltLength(),
			TrailerField: 1,
		})
		if err != nil {
			return nil, err
		}
		ai = algorithmIdentifier{oidRSAPSS, asn1.RawValue{FullBytes: params}}
	default:
		return nil, fmt.Errorf("signature algorithm %v: not supported", a.Scheme)
	}
	return asn1.Marshal(ai)
}

// ErrUnsupportedAlgorithm is wrapped when a peer names an algorithm we do not
// accept.
var ErrUnsupportedAlgorithm = errors.New("unsupported signature algorithm")

// ParseAlgorithmIdentifier reads a DER AlgorithmIdentifier of RFC 7427
// authentication data.
func ParseAlgorithmIdentifier(der []byte) (Algorithm, error) {
	var ai algorithmIdentifier
	rest, err := asn1.Unmarshal(der, &ai)
	if err != nil || len(rest) != 0 {
		return Algorithm{}, fmt.Errorf("parse AlgorithmIdentifier %x: malformed", der)
	}
	noParams := len(ai.Parameters.FullBytes) == 0
	nullOrNone := noParams || bytes.Equal(ai.Parameters.FullBytes, asn1NULL.FullBytes)
	simple := []struct {
		oid    asn1.ObjectIdentifier
		scheme SignatureScheme
		ok     bool
	}{
		{oidSHA256WithRSA, SHA256WithRSA, nullOrNone},
		{oidSHA384WithRSA, SHA384WithRSA, nullOrNone},
		{oidSHA512WithRSA, SHA512WithRSA, nullOrNone},
		{oidECDSASHA256, ECDSAWithSHA256, noParams},
		{oidECDSASHA384, ECDSAWithSHA384, noParams},
		{oidECDSASHA512, ECDSAWithSHA512, noParams},
		{oidEd25519, PureEd25519, noParams},
	}
	for _, s := range simple {
		if ai.Algorithm.Equal(s.oid) {
			if !s.ok {
				return Algorithm{}, fmt.Errorf("parse AlgorithmIdentifier %v: unexpected parameters", s.scheme)
			}
			return Algorithm{Scheme: s.scheme}, nil
		}
	}
	if ai.Algorithm.Equal(oidRSAPSS) {
		return parsePSS(ai.Parameters.FullBytes)
	}
	return Algorithm{}, fmt.Errorf("%w: OID %v", ErrUnsupportedAlgorithm, ai.Algorithm)
}

func parsePSS(params []byte) (Algorithm, error) {
	var p pssParameters
	rest, err := asn1.Unmarshal(params, &p)
	if err != nil || len(rest) != 0 {
		return Algorithm{}, fmt.Errorf("parse RSASSA-PSS parameters: malformed")
	}
	var scheme SignatureScheme
	switch {
	case p.Hash.Algorithm.Equal(oidSHA256):
		scheme = RSAPSSWithSHA256
	case p.Hash.Algorithm.Equal(oidSHA384):
		scheme = RSAPSSWithSHA384
	case p.Hash.Algorithm.Equal(oidSHA512):
		scheme = RSAPSSWithSHA512
	default:
		return Algorithm{}, fmt.Errorf("%w: RSASSA-PSS with hash %v", ErrUnsupportedAlgorithm, p.Hash.Algorithm)
	}
	var mgfHash algorithmIdentifier
	if !p.MGF.Algorithm.Equal(oidMGF1) {
		return Algorithm{}, fmt.Errorf("%w: RSASSA-PSS mask generation %v", ErrUnsupportedAlgorithm, p.MGF.Algorithm)
	}
	if _, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mgfHash); err != nil || !mgfHash.Algorithm.Equal(p.Hash.Algorithm) {
		return Algorithm{}, fmt.Errorf("%w: RSASSA-PSS MGF1 hash differs from message hash", ErrUnsupportedAlgorithm)
	}
	if p.TrailerField != 1 || p.SaltLength < 0 || p.SaltLength > 1024 {
		return Algorithm{}, fmt.Errorf("parse RSASSA-PSS parameters: bad salt length %d or trailer %d", p.SaltLength, p.TrailerField)
	}
	alg := Algorithm{Scheme: scheme, SaltLength: p.SaltLength}
	if p.SaltLength == scheme.Hash().Size() {
		alg.SaltLength = 0
	}
	return alg, nil
}

// DefaultAlgorithm picks the scheme to sign with for key pub, given the
// hashes the peer announced in SIGNATURE_HASH_ALGORITHMS (nil: no notify, in
// which case the caller should use auth method 1 for RSA instead). It prefers
// SHA-256 with PKCS#1 v1.5 for RSA (understood by every RFC 7427 peer),
// the curve's own hash for ECDSA, and pure Ed25519 (Identity hash).
func DefaultAlgorithm(pub crypto.PublicKey, peerHashes []HashAlgorithm) (Algorithm, error) {
	has := func(h HashAlgorithm) bool {
		for _, p := range peerHashes {
			if p == h {
				return true
			}
		}
		return false
	}
	var candidates []SignatureScheme
	switch k := pub.(type) {
	case *rsa.PublicKey:
		candidates = []SignatureScheme{SHA256WithRSA, SHA384WithRSA, SHA512WithRSA}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 384:
			candidates = []SignatureScheme{ECDSAWithSHA384, ECDSAWithSHA256, ECDSAWithSHA512}
		case 521:
			candidates = []SignatureScheme{ECDSAWithSHA512, ECDSAWithSHA384, ECDSAWithSHA256}
		default:
			candidates = []SignatureScheme{ECDSAWithSHA256, ECDSAWithSHA384, ECDSAWithSHA512}
		}
	case ed25519.PublicKey:
		candidates = []SignatureScheme{PureEd25519}
	default:
		return Algorithm{}, fmt.Errorf("%w: key type %T", ErrUnsupportedAlgorithm, pub)
	}
	for _, s := range candidates {
		if has(s.HashAlgorithm()) {
			return Algorithm{Scheme: s}, nil
		}
	}
	return Algorithm{}, fmt.Errorf("%w: peer announced no hash usable with a %T key", ErrUnsupportedAlgorithm, pub)
}

// Sign signs data (the octets of RFC 7296 section 2.15) with signer.
func Sign(signer crypto.Signer, alg Algorithm, data []byte, rand io.Reader) ([]byte, error) {
	if err := checkKeyType(signer.Public(), alg.Scheme); err != nil {
		return nil, err
	}
	h := alg.Scheme.Hash()
	digest := data
	var opts crypto.SignerOpts = h
	if h != 0 {
		hh := h.New()
		hh.Write(data)
		digest = hh.Sum(nil)
	}
	switch alg.Scheme {
	case RSAPSSWithSHA256, RSAPSSWithSHA384, RSAPSSWithSHA512:
		opts = &rsa.PSSOptions{SaltLength: alg.saltLength(), Hash: h}
	}
	sig, err := signer.Sign(rand, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign with %v: %w", alg, err)
	}
	return sig, nil
}

// ErrBadSignature is wrapped when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// VerifySignature checks sig over data with pub (from the peer's verified
// certificate).
func VerifySignature(pub crypto.PublicKey, alg Algorithm, data, sig []byte) error {
	if err := checkKeyType(pub, alg.Scheme); err != nil {
		return err
	}
	h := alg.Scheme.Hash()
	var digest []byte
	if h != 0 {
		hh := h.New()
		hh.Write(data)
		digest = hh.Sum(nil)
	}
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		var err error
		switch alg.Scheme {
		case RSAPSSWithSHA256, RSAPSSWithSHA384, RSAPSSWithSHA512:
			err = rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: alg.saltLength(), Hash: h})
		default:
			err = rsa.VerifyPKCS1v15(k, h, digest, sig)
		}
		ok = err == nil
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, data, sig)
	}
	if !ok {
		return fmt.Errorf("%w (%v)", ErrBadSignature, alg)
	}
	return nil
}

func checkKeyType(pub crypto.PublicKey, s SignatureScheme) error {
	ok := false
	switch pub.(type) {
	case *rsa.PublicKey:
		ok = s >= SHA256WithRSA && s <= RSAPSSWithSHA512
	case *ecdsa.PublicKey:
		ok = s >= ECDSAWithSHA256 && s <= ECDSAWithSHA512
	case ed25519.PublicKey:
		ok = s == PureEd25519
	}
	if !ok {
		return fmt.Errorf("%w: %v with a %T key", ErrUnsupportedAlgorithm, s, pub)
	}
	return nil
}

// MarshalSignatureAuth builds the Authentication Data of auth method 14
// (RFC 7427 section 3): the AlgorithmIdentifier's length in one octet, the
// AlgorithmIdentifier, the signature.
func MarshalSignatureAuth(alg Algorithm, sig []byte) ([]byte, error) {
	ai, err := alg.AlgorithmIdentifier()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(ai)+len(sig))
	out = append(out, byte(len(ai)))
	out = append(out, ai...)
	return append(out, sig...), nil
}

// ParseSignatureAuth splits auth method 14 Authentication Data.
func ParseSignatureAuth(authData []byte) (Algorithm, []byte, error) {
	if len(authData) < 1 || int(authData[0]) == 0 || len(authData) < 1+int(authData[0]) {
		return Algorithm{}, nil, fmt.Errorf("digital signature auth data of %d bytes: truncated", len(authData))
	}
	n := int(authData[0])
	alg, err := ParseAlgorithmIdentifier(authData[1 : 1+n])
	if err != nil {
		return Algorithm{}, nil, err
	}
	sig := authData[1+n:]
	if len(sig) == 0 {
		return Algorithm{}, nil, errors.New("digital signature auth data: empty signature")
	}
	return alg, sig, nil
}

// SignAuth signs data and returns auth method 14 Authentication Data.
func SignAuth(signer crypto.Signer, alg Algorithm, data []byte, rand io.Reader) ([]byte, error) {
	sig, err := Sign(signer, alg, data, rand)
	if err != nil {
		return nil, err
	}
	return MarshalSignatureAuth(alg, sig)
}

// VerifyAuth checks auth method 14 Authentication Data over data and returns
// the algorithm the peer used, for logging.
func VerifyAuth(pub crypto.PublicKey, authData, data []byte) (Algorithm, error) {
	alg, sig, err := ParseSignatureAuth(authData)
	if err != nil {
		return Algorithm{}, err
	}
	return alg, VerifySignature(pub, alg, data, sig)
}

// SignRSASHA1 produces auth method 1 (RSA Digital Signature) data: RSASSA-
// PKCS1-v1_5 over SHA-1 of data (RFC 7296 section 3.8). Kept for peers
// without RFC 7427 such as the deployed racoon-era setups.
func SignRSASHA1(signer crypto.Signer, data []byte, rand io.Reader) ([]byte, error) {
	if _, ok := signer.Public().(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: auth method 1 needs an RSA key, have %T", ErrUnsupportedAlgorithm, signer.Public())
	}
	digest := sha1.Sum(data)
	sig, err := signer.Sign(rand, digest[:], crypto.SHA1)
	if err != nil {
		return nil, fmt.Errorf("sign with RSA/SHA-1: %w", err)
	}
	return sig, nil
}

// VerifyRSASHA1 checks auth method 1 data.
func VerifyRSASHA1(pub crypto.PublicKey, data, sig []byte) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: auth method 1 needs an RSA key, have %T", ErrUnsupportedAlgorithm, pub)
	}
	digest := sha1.Sum(data)
	if err := rsa.VerifyPKCS1v15(k, crypto.SHA1, digest[:], sig); err != nil {
		return fmt.Errorf("%w (RSA/SHA-1)", ErrBadSignature)
	}
	return nil
}
