package suite

import (
	"bytes"
	"encoding/hex"
	"testing"

	"alixsec.dev/ikesvc/wire"
)

// Expected values in this file come from OpenSSL, not from this package:
// testdata/openssl-ikev2-kdf.sh chains `openssl mac -digest D -macopt
// hexkey:K HMAC` (OpenSSL 3.0.22 on the build host) into prf+ by hand,
// since OpenSSL 3.0 has no IKEv2 KDF. Inputs:
//
//	Ni   = 00 01 .. 1f,  Nr = 20 21 .. 3f,  g^ir = 42 x 32
//	SPIi = 0102030405060708,  SPIr = 1112131415161718
//
// and, e.g. for the SHA-256 suite:
//
//	SS=$(openssl-ikev2-kdf.sh prf SHA256 $Ni$Nr $gir)
//	openssl-ikev2-kdf.sh prfplus SHA256 $SS $Ni$Nr$SPIi$SPIr 192

var (
	kdfNi      = seq(0, 32)
	kdfNr      = seq(32, 32)
	kdfGir     = bytes.Repeat([]byte{0x42}, 32)
	kdfSPIi    = uint64(0x0102030405060708)
	kdfSPIr    = uint64(0x1112131415161718)
	kdfSKdSHA2 = "be1665982c095c7e7060cae76e0c394fd57153bcc219d58f27351b4c512814a4"
)

func seq(start, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(start + i)
	}
	return b
}

func keysHex(k IKEKeys) string {
	var all []byte
	for _, part := range [][]byte{k.D, k.AI, k.AR, k.EI, k.ER, k.PI, k.PR} {
		all = append(all, part...)
	}
	return hex.EncodeToString(all)
}

func TestIKEKeysAgainstOpenSSL(t *testing.T) {
	tests := []struct {
		suite  string
		keymat string // prf+ output, the seven keys in order
	}{
		{"aes128-sha256-x25519", "be1665982c095c7e7060cae76e0c394fd57153bcc219d58f27351b4c512814a475d580ab16cab59bbcb37d34b17b621b8d3cede1012d92fbc86d2109f8b0bc989a58ce0ed2a7133cca90a24e340a434a559fbcedbd12cec1d8d185fc2e3ed8e9bd2c16342ed115f29c8d831152de9a6b580111666e8398760ca00446f9f0ecf4fab79241e4b55aae90bf8243caf01233c4f76c70e3c09453b5ed622af0b2534cd14ce56e23399faf3be7622a3b3259ea1d637cdb0f1b6f471bbe7b0036bb4120"},
		{"aes256gcm16-prfsha384-x25519", "f04a4d48b1cfd0d424a6c631414a23b157b791fd8395cb425572c8f6c426300aacb151db84620e74ff1b02fb08d0b1b8d431e96f6edc996f2440a6aec69b19bba047d1ea7df348b27f200fdbd005de65bebe0ae854d3bdc4096eca19166f2ecc7586d2612ea50539df3ae6d38ed6301f83e4c2ef7a00630149e2409943e391c21482eda4f9ff7d9f304f128a00d8aabb99f704188ea1250b3ed92e6554de25be3b15f66d11d522719d6d146b41d8bc5c6b8a4e88d4aaea4194546c16bead940e2213ea51fd9aaa87b883adcc4a2124fe1f3469482d91c7e5"},
		{"aes128-sha1-x25519", "b8edcd555740f3ff051e13b14593d73297fdce67215ffeb6cd620865c8cfc0a3c70f7042bbde9dd241e21d996003e24e9249fd66348ce27de6aa70092e6abd636a6163b050e562508feec4d9c98a6a1ba87485016a97ac83afeabd13d2de86ffa9cca07a8ce5cabf6244643df169d28882965f652389939bc572edf804c1ffcb22f22dc8"},
	}
	for _, tt := range tests {
		t.Run(tt.suite, func(t *testing.T) {
			s := mustSuite(t, wire.ProtocolIKE, tt.suite)
			k, err := DeriveIKEKeys(s, kdfNi, kdfNr, kdfGir, kdfSPIi, kdfSPIr)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysHex(k); got != tt.keymat {
				t.Errorf("keys =\n%s\nwant (OpenSSL)\n%s", got, tt.keymat)
			}
		})
	}
}

func TestChildKeysAgainstOpenSSL(t *testing.T) {
	skd, _ := hex.DecodeString(kdfSKdSHA2)
	pfs := bytes.Repeat([]byte{0x24}, 32)
	tests := []struct {
		name   string
		suite  string
		secret []byte
		// openssl-ikev2-kdf.sh prfplus SHA256 $SKd [$gir]$Ni$Nr N
		keymat string
	}{
		{"aes128-sha256 without PFS", "aes128-sha256", nil, "0af9eb91f6f444049d9f469b16923692a5fb5aba20505893c88aa0c6164b9742bfc7c36c159dd722e554ab88fe1666e9f8a77fc2d4c3129d51252df8e9a7060ca522f8c437b69464d975ccb90e0009869d4df4b6458daaba6e8c8dab5f3b904a"},
		{"aes128gcm16 with PFS (g^ir 24 x 32)", "aes128gcm16-x25519", pfs, "1e605a78c9d5ff40f4b42a722a690241182ba362c22ad41823c1d4071c3b253cc85356bcbfb53419"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSuite(t, wire.ProtocolESP, tt.suite)
			k, err := DeriveChildKeys(s, PRFHMACSHA2_256, skd, tt.secret, kdfNi, kdfNr)
			if err != nil {
				t.Fatal(err)
			}
			got := hex.EncodeToString(bytes.Join([][]byte{
				k.InitiatorToResponder.Encr, k.InitiatorToResponder.Integ,
				k.ResponderToInitiator.Encr, k.ResponderToInitiator.Integ,
			}, nil))
			if got != tt.keymat {
				t.Errorf("KEYMAT split =\n%s\nwant (OpenSSL)\n%s", got, tt.keymat)
			}
			if len(k.InitiatorToResponder.Encr) != s.Encr.KeyLen() || len(k.ResponderToInitiator.Integ) != s.Integ.KeyLen() {
				t.Errorf("key lengths %d/%d, want %d/%d", len(k.InitiatorToResponder.Encr), len(k.ResponderToInitiator.Integ), s.Encr.KeyLen(), s.Integ.KeyLen())
			}
		})
	}
}

func TestRekeyedIKEKeysAgainstOpenSSL(t *testing.T) {
	// Old SA: PRF HMAC-SHA-256 with the SK_d above. New exchange: g^ir 24 x 32,
	// Ni 55 x 32, Nr 66 x 32, new SPIs 2122232425262728 / 3132333435363738,
	// new suite with PRF HMAC-SHA-384:
	//   SS=$(openssl-ikev2-kdf.sh prf SHA256 $SKd $gir$Ni$Nr)
	//   openssl-ikev2-kdf.sh prfplus SHA384 $SS $Ni$Nr$SPIi$SPIr 216
	const want = "430fbec20d308643f2f312016508266fa4ab50fbe3f32e6561bfd314af8d751ea7514f012fde96d70942636cfa7946eaef604bc0573c8b8f9d8e6b2c94bdc67ba1ac0371ead79d76231135d79f0564a110c8be2b4acf7f4eaf17b1165b9f22c35b40978fab518badb679244841b53ed8b2fc069aad9bc5cf2d9009a6674c20db4b8047220d0e7d4445b2413602594dacbb85744eeac54caa8bd0f5a690387bcf30085edad01c8775233ba97f75f88d9c9bbfc6b4b4d0cfff5b3a379cd39964a4edd32afb820cd8a7d2446586f2b2d44ea6507a7d9419877b"
	skd, _ := hex.DecodeString(kdfSKdSHA2)
	s := mustSuite(t, wire.ProtocolIKE, "aes256gcm16-prfsha384-x25519")
	k, err := DeriveRekeyedIKEKeys(s, PRFHMACSHA2_256, skd, bytes.Repeat([]byte{0x24}, 32),
		bytes.Repeat([]byte{0x55}, 32), bytes.Repeat([]byte{0x66}, 32), 0x2122232425262728, 0x3132333435363738)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysHex(k); got != want {
		t.Errorf("rekeyed keys =\n%s\nwant (OpenSSL)\n%s", got, want)
	}
}

// mustSuite parses a one-choice proposal into a Suite.
func mustSuite(t testing.TB, proto wire.ProtocolID, s string) Suite {
	t.Helper()
	p, err := ParseProposal(proto, s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Select([]Proposal{p}, []wire.Proposal{p.Wire(1, nil)}, DHNone)
	if err != nil {
		t.Fatal(err)
	}
	return c.Suite
}
