package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// AlgorithmIdentifier encodings from RFC 7427 appendix A; PSS as OpenSSL and
// strongSwan write it (hash and MGF1 SHA-256 with NULL parameters, salt 32,
// default trailer omitted).
var rfc7427Blobs = []struct {
	alg Algorithm
	hex string
}{
	{Algorithm{Scheme: SHA256WithRSA}, "300d06092a864886f70d01010b0500"},
	{Algorithm{Scheme: SHA384WithRSA}, "300d06092a864886f70d01010c0500"},
	{Algorithm{Scheme: SHA512WithRSA}, "300d06092a864886f70d01010d0500"},
	{Algorithm{Scheme: ECDSAWithSHA256}, "300a06082a8648ce3d040302"},
	{Algorithm{Scheme: ECDSAWithSHA384}, "300a06082a8648ce3d040303"},
	{Algorithm{Scheme: ECDSAWithSHA512}, "300a06082a8648ce3d040304"},
	{Algorithm{Scheme: PureEd25519}, "300506032b6570"},
	{Algorithm{Scheme: RSAPSSWithSHA256}, "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"},
}

func TestAlgorithmIdentifier(t *testing.T) {
	for _, b := range rfc7427Blobs {
		t.Run(b.alg.String(), func(t *testing.T) {
			der, err := b.alg.AlgorithmIdentifier()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(der); got != b.hex {
				t.Fatalf("encoded %s\nwant    %s", got, b.hex)
			}
			back, err := ParseAlgorithmIdentifier(der)
			if err != nil || back != b.alg {
				t.Fatalf("parsed %v, %v", back, err)
			}
		})
	}
}

func TestParseAlgorithmIdentifierVariants(t *testing.T) {
	cases := []struct {
		name, hex string
		want      Algorithm
		wantErr   bool
	}{
		{"RSA without NULL", "300b06092a864886f70d01010b", Algorithm{Scheme: SHA256WithRSA}, false},
		{"PSS salt 20 by default", "303c06092a864886f70d01010a302fa00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500", Algorithm{Scheme: RSAPSSWithSHA256, SaltLength: 20}, false},
		{"PSS MGF1 hash differs", "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020120", Algorithm{}, true},
		{"ECDSA with NULL", "300c06082a8648ce3d0403020500", Algorithm{}, true},
		{"sha1WithRSA", "300d06092a864886f70d0101050500", Algorithm{}, true},
		{"trailing byte", "300506032b657000", Algorithm{}, true},
		{"truncated", "300d06092a8648", Algorithm{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			der, _ := hex.DecodeString(c.hex)
			got, err := ParseAlgorithmIdentifier(der)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	octets := []byte("IKE_SA_INIT message | Nr | prf(SK_pi, IDi')")
	cases := []struct {
		signer crypto.Signer
		scheme SignatureScheme
	}{
		{rsaKey, SHA256WithRSA}, {rsaKey, SHA384WithRSA}, {rsaKey, SHA512WithRSA},
		{rsaKey, RSAPSSWithSHA256}, {rsaKey, RSAPSSWithSHA384}, {rsaKey, RSAPSSWithSHA512},
		{ecKey, ECDSAWithSHA256}, {ecKey, ECDSAWithSHA384}, {ecKey, ECDSAWithSHA512},
		{edKey, PureEd25519},
	}
	for _, c := range cases {
		t.Run(c.scheme.String(), func(t *testing.T) {
			alg := Algorithm{Scheme: c.scheme}
			auth, err := SignAuth(c.signer, alg, octets, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyAuth(c.signer.Public(), auth, octets)
			if err != nil || got != alg {
				t.Fatalf("VerifyAuth = %v, %v", got, err)
			}
			tampered := append([]byte(nil), octets...)
			tampered[0] ^= 1
			if _, err := VerifyAuth(c.signer.Public(), auth, tampered); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered data: %v", err)
			}
			badSig := append([]byte(nil), auth...)
			badSig[len(badSig)-1] ^= 1
			if _, err := VerifyAuth(c.signer.Public(), badSig, octets); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered signature: %v", err)
			}
		})
	}
	t.Run("wrong key type", func(t *testing.T) {
		if _, err := Sign(ecKey, Algorithm{Scheme: SHA256WithRSA}, octets, rand.Reader); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Fatalf("ECDSA key with RSA scheme: %v", err)
		}
		sig, err := Sign(ecKey, Algorithm{Scheme: ECDSAWithSHA256}, octets, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifySignature(rsaKey.Public(), Algorithm{Scheme: ECDSAWithSHA256}, octets, sig); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Fatalf("RSA key with ECDSA scheme: %v", err)
		}
	})
	t.Run("auth method 1", func(t *testing.T) {
		sig, err := SignRSASHA1(rsaKey, octets, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 256 {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		if err := VerifyRSASHA1(rsaKey.Public(), octets, sig); err != nil {
			t.Fatal(err)
		}
		if err := VerifyRSASHA1(rsaKey.Public(), octets[1:], sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("other data: %v", err)
		}
		if _, err := SignRSASHA1(ecKey, octets, rand.Reader); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Fatalf("ECDSA key: %v", err)
		}
	})
	t.Run("malformed auth data", func(t *testing.T) {
		for _, data := range [][]byte{nil, {0}, {5, 0x30}, {7, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}} {
			if _, _, err := ParseSignatureAuth(data); err == nil {
				t.Errorf("ParseSignatureAuth(%x) accepted", data)
			}
		}
	})
	t.Run("default algorithm", func(t *testing.T) {
		all := SupportedHashAlgorithms()
		for _, c := range []struct {
			pub    crypto.PublicKey
			hashes []HashAlgorithm
			want   SignatureScheme
		}{
			{rsaKey.Public(), all, SHA256WithRSA},
			{rsaKey.Public(), []HashAlgorithm{HashSHA2_512}, SHA512WithRSA},
			{ecKey.Public(), all, ECDSAWithSHA256},
			{edKey.Public(), all, PureEd25519},
		} {
			got, err := DefaultAlgorithm(c.pub, c.hashes)
			if err != nil || got.Scheme != c.want {
				t.Errorf("DefaultAlgorithm(%T, %v) = %v, %v; want %v", c.pub, c.hashes, got, err, c.want)
			}
		}
		if _, err := DefaultAlgorithm(edKey.Public(), []HashAlgorithm{HashSHA2_256}); err == nil || !strings.Contains(err.Error(), "no hash") {
			t.Errorf("Ed25519 without Identity hash: %v", err)
		}
	})
}
