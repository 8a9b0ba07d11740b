package suite

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"errors"
	"testing"

	"alixsec.dev/ikesvc/wire"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 4868 2.7.1 (PRF test cases, shared with RFC 4231 4.2 and 4.3) and
// 2.7.2 (authenticator test case 1, keys as long as the hash output; the
// integrity algorithm sends the first ICVLen bytes).
func TestPRFVectorsRFC4868(t *testing.T) {
	hiThere := []byte("Hi There")
	jefe := []byte("what do ya want for nothing?")
	tests := []struct {
		name string
		prf  PRFID
		key  []byte
		data []byte
		want string
	}{
		{"PRF-1 SHA-256", PRFHMACSHA2_256, bytes.Repeat([]byte{0x0b}, 20), hiThere, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"PRF-1 SHA-384", PRFHMACSHA2_384, bytes.Repeat([]byte{0x0b}, 20), hiThere, "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{"PRF-1 SHA-512", PRFHMACSHA2_512, bytes.Repeat([]byte{0x0b}, 20), hiThere, "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{"PRF-2 SHA-256", PRFHMACSHA2_256, []byte("Jefe"), jefe, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"AUTH256-1", PRFHMACSHA2_256, bytes.Repeat([]byte{0x0b}, 32), hiThere, "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"},
		{"AUTH384-1", PRFHMACSHA2_384, bytes.Repeat([]byte{0x0b}, 48), hiThere, "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc4c5df61d5b3297b4fb68dab9f1b582c2"},
		{"AUTH512-1", PRFHMACSHA2_512, bytes.Repeat([]byte{0x0b}, 64), hiThere, "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prf, err := NewPRF(tt.prf)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(prf.Sum(nil, tt.key, tt.data[:3], tt.data[3:])); got != tt.want {
				t.Errorf("prf = %s, want %s", got, tt.want)
			}
		})
	}
}

// The ICV of HMAC-SHA2-256-128 is the first half of AUTH256-1 (RFC 4868 2.7.2.1).
func TestIntegrityTruncation(t *testing.T) {
	s := Suite{Protocol: wire.ProtocolIKE, Encr: Encr{EncrAESCBC, 128}, Integ: IntegHMACSHA2_256128}
	c, err := newCBCHMAC(s.Integ, make([]byte, 16), bytes.Repeat([]byte{0x0b}, 32), zeroReader{})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(c.icv([]byte("Hi There"))); got != "198a607eb44bfbc69903a0f1cf2bbdc5" {
		t.Errorf("ICV = %s", got)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// aeadVector lays a published AEAD vector out as an SK message: the AAD as
// the message prefix, the nonce split into salt (key material) and explicit
// IV, the ciphertext and tag as the SK body and ICV.
type aeadVector struct {
	name                              string
	suite                             Suite
	key, nonce, aad, plaintext, ctTag string
}

func TestAEADVectors(t *testing.T) {
	tests := []aeadVector{{
		// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256).
		name:      "AES-GCM test case 16",
		suite:     Suite{Encr: Encr{EncrAESGCM16, 256}},
		key:       "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		nonce:     "cafebabefacedbaddecaf888",
		aad:       "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		ctTag:     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" + "76fc6ece0f4e1768cddf8853bb2d551b",
	}, {
		// RFC 7539 2.8.2.
		name:      "ChaCha20-Poly1305 RFC 7539 2.8.2",
		suite:     Suite{Encr: Encr{EncrChaCha20Poly1305, 256}},
		key:       "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		nonce:     "070000004041424344454647",
		aad:       "50515253c0c1c2c3c4c5c6c7",
		plaintext: hex.EncodeToString([]byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")),
		ctTag: "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36" +
			"92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116" + "1ae10b594f09e26a7e902ecbd0600691",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nonce := unhex(t, tt.nonce)
			key := append(unhex(t, tt.key), nonce[:4]...) // KEYMAT order: key, then salt
			aad, pt, ctTag := unhex(t, tt.aad), unhex(t, tt.plaintext), unhex(t, tt.ctTag)
			explicitIV := nonce[4:]

			c, err := NewSKCipher(tt.suite, key, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Open the published ciphertext.
			msg := bytes.Join([][]byte{aad, explicitIV, ctTag}, nil)
			got, err := c.Open(msg, len(aad))
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open = %x, %v; want the plaintext", got, err)
			}
			// Seal with the counter set so the next IV is the vector's.
			ac := c.(*aeadCipher)
			ac.counter.Store(beUint64(explicitIV) - 1)
			msg = bytes.Join([][]byte{aad, make([]byte, 8), pt, make([]byte, 16)}, nil)
			if err := c.Seal(msg, len(aad)); err != nil {
				t.Fatal(err)
			}
			if want := bytes.Join([][]byte{aad, explicitIV, ctTag}, nil); !bytes.Equal(msg, want) {
				t.Errorf("Seal =\n%x\nwant\n%x", msg, want)
			}
			// Any flipped bit fails with ErrIntegrity.
			for _, i := range []int{0, len(aad), len(aad) + 8, len(msg) - 1} {
				bad := bytes.Clone(msg)
				bad[i] ^= 0x80
				if _, err := c.Open(bad, len(aad)); !errors.Is(err, wire.ErrIntegrity) {
					t.Errorf("flip at %d: Open = %v, want ErrIntegrity", i, err)
				}
			}
		})
	}
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// RFC 7748 6.1: Alice and Bob's X25519 exchange.
func TestX25519VectorRFC7748(t *testing.T) {
	alice := newTestECDH(t, DHCurve25519, ecdh.X25519(), "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	bob := newTestECDH(t, DHCurve25519, ecdh.X25519(), "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	if got := hex.EncodeToString(alice.PublicKey()); got != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Errorf("Alice's public key = %s", got)
	}
	if got := hex.EncodeToString(bob.PublicKey()); got != "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f" {
		t.Errorf("Bob's public key = %s", got)
	}
	for _, pair := range [][2]*ecdhKE{{alice, bob}, {bob, alice}} {
		k, err := pair[0].SharedSecret(pair[1].PublicKey())
		if err != nil || hex.EncodeToString(k) != "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" {
			t.Errorf("shared secret = %x, %v", k, err)
		}
	}
}

// newTestECDH builds a key exchange from a fixed private key (Go 1.26's
// GenerateKey ignores its reader, so vectors need this).
func newTestECDH(t testing.TB, g DHGroup, curve ecdh.Curve, privHex string) *ecdhKE {
	t.Helper()
	priv, err := curve.NewPrivateKey(unhex(t, privHex))
	if err != nil {
		t.Fatal(err)
	}
	return ecdhFromPrivate(g, curve, priv)
}
