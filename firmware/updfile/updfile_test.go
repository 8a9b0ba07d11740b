package updfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func mustKey(t *testing.T) (PublicKey, SecretKey) {
	t.Helper()
	pub, sec, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub, sec
}

func build(t *testing.T, sec SecretKey, board string, kernel, initrd []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, sec, board, "v2", kernel, initrd); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadVerifies(t *testing.T) {
	pub, sec := mustKey(t)
	otherPub, otherSec := mustKey(t)
	kernel := bytes.Repeat([]byte("K"), 3000)
	initrd := bytes.Repeat([]byte("I"), 5000)
	good := build(t, sec, "alix", kernel, initrd)
	lim := Limits{Board: "alix", MaxKernel: 4096, MaxInitrd: 8192}

	flip := func(at int) []byte {
		b := append([]byte{}, good...)
		b[at] ^= 1
		return b
	}
	headerAt := len(magic) + 3 // inside the JSON header
	tests := []struct {
		name    string
		file    []byte
		trusted []PublicKey
		lim     Limits
		want    error
	}{
		{"good", good, []PublicKey{otherPub, pub}, lim, nil},
		{"another key", build(t, otherSec, "alix", kernel, initrd), []PublicKey{pub}, lim, ErrUntrusted},
		{"another board", build(t, sec, "wrap", kernel, initrd), []PublicKey{pub}, lim, ErrWrongBoard},
		{"header altered", flip(headerAt), []PublicKey{pub}, lim, ErrBadSig},
		{"kernel altered", flip(len(good) - len(initrd) - 10), []PublicKey{pub}, lim, ErrBadPayload},
		{"initramfs altered", flip(len(good) - 1), []PublicKey{pub}, lim, ErrBadPayload},
		{"cut short", good[:len(good)-1], []PublicKey{pub}, lim, ErrTruncated},
		{"trailing data", append(append([]byte{}, good...), 'x'), []PublicKey{pub}, lim, ErrTrailing},
		{"kernel too large", good, []PublicKey{pub}, Limits{Board: "alix", MaxKernel: 2000, MaxInitrd: 8192}, ErrTooLarge},
		{"initramfs too large", good, []PublicKey{pub}, Limits{Board: "alix", MaxKernel: 4096, MaxInitrd: 4000}, ErrTooLarge},
		{"not an update", []byte("hello\n"), []PublicKey{pub}, lim, ErrNotUpdate},
		{"empty", nil, []PublicKey{pub}, lim, ErrNotUpdate},
		{"no trusted keys", good, nil, lim, ErrUntrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Read(bytes.NewReader(tc.file), tc.trusted, tc.lim)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if u.Version != "v2" || u.Board != "alix" || !bytes.Equal(u.Kernel, kernel) || !bytes.Equal(u.Initrd, initrd) || u.SignedBy != pub.Num {
					t.Fatalf("Read returned %+v", u.Header)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read error = %v, want %v", err, tc.want)
			}
			if u != nil {
				t.Fatalf("Read returned an update with error %v", err)
			}
		})
	}
}

// TestReadLongHeader: a stream of garbage without newlines is refused
// after a bounded read.
func TestReadLongHeader(t *testing.T) {
	pub, _ := mustKey(t)
	r := io.MultiReader(bytes.NewReader([]byte(magic+"\n")), bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20)))
	if _, err := Read(r, []PublicKey{pub}, Limits{Board: "alix", MaxKernel: 1, MaxInitrd: 1}); !errors.Is(err, errHeaderLimit) {
		t.Fatalf("Read = %v, want %v", err, errHeaderLimit)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	pub, sec := mustKey(t)
	got, err := ParsePublicKey(pub.String())
	if err != nil || got.Num != pub.Num || !got.Key.Equal(pub.Key) {
		t.Fatalf("ParsePublicKey(String) = %v, %v", got, err)
	}
	if got, err := ParsePublicKey(string(pub.MarshalPublic())); err != nil || got.Num != pub.Num {
		t.Fatalf("ParsePublicKey(file) = %v, %v", got, err)
	}
	s, err := ParseSecretKey(sec.MarshalSecret())
	if err != nil || s.Num != sec.Num || !s.Key.Equal(sec.Key) {
		t.Fatalf("ParseSecretKey = %v", err)
	}
	bad := sec.MarshalSecret()
	bad[len(bad)-5] ^= 1
	if _, err := ParseSecretKey(bad); err == nil {
		t.Fatal("a damaged secret key was accepted")
	}
	for _, s := range []string{"", "RWQ", "not base64!", pub.String()[:20]} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", s)
		}
	}
}

func TestLoadOrCreateKeyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	pub, _, made, err := LoadOrCreateKeyDir(dir)
	if err != nil || !made {
		t.Fatalf("first LoadOrCreateKeyDir: made=%v err=%v", made, err)
	}
	pub2, _, made, err := LoadOrCreateKeyDir(dir)
	if err != nil || made || pub2.String() != pub.String() {
		t.Fatalf("second LoadOrCreateKeyDir: made=%v err=%v same=%v", made, err, pub2.String() == pub.String())
	}
	fi, err := os.Stat(filepath.Join(dir, SecretKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file: %v %v", fi, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if got, err := ParsePublicKey(string(data)); err != nil || got.Num != pub.Num {
		t.Fatalf("public key file: %v", err)
	}
}
