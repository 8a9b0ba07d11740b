package wire

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func payloadTypes(ps []Payload) []PayloadType {
	out := make([]PayloadType, len(ps))
	for i, p := range ps {
		out[i] = p.PayloadType()
	}
	return out
}

// TestRealMessages decodes the messages captured with charon: cleartext
// ones completely, encrypted ones up to the SK payload (their keys are gone).
func TestRealMessages(t *testing.T) {
	files, err := filepath.Glob("testdata/real/*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured messages: %v", err)
	}
	// Cleartext messages by file-name prefix, with their payload sequence.
	cleartext := map[string][]PayloadType{
		"charon-ike-sa-init-request":  {PayloadSA, PayloadKE, PayloadNonce, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify},
		"charon-ike-sa-init-response": {PayloadSA, PayloadKE, PayloadNonce, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify},
		"ours-ike-sa-init-request":    {PayloadSA, PayloadKE, PayloadNonce, PayloadNotify, PayloadNotify, PayloadNotify, PayloadNotify},
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []PayloadType
			isClear := false
			for prefix, types := range cleartext {
				if strings.HasPrefix(name, prefix) {
					want, isClear = types, true
				}
			}
			m, err := Decode(b, nil)
			if !isClear {
				if !errors.Is(err, ErrNoCipher) {
					t.Errorf("Decode = %v, want ErrNoCipher for an encrypted message", err)
				}
				if h, err := ParseHeader(b); err != nil || (h.Exchange != ExchangeIKEAuth && h.Exchange != ExchangeInformational) {
					t.Errorf("header %+v, %v", h, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := payloadTypes(m.Payloads); !reflect.DeepEqual(got, want) {
				t.Errorf("payloads %v, want %v", got, want)
			}
			if strings.HasPrefix(name, "charon") && m.FindNotify(NotifySignatureHashAlgorithms) == nil {
				t.Error("charon's message lacks SIGNATURE_HASH_ALGORITHMS")
			}
			// Re-encoding a real message reproduces it byte for byte.
			again, err := m.Encode(nil)
			if err != nil || string(again) != string(b) {
				t.Errorf("re-encoding differs from the original (err %v)", err)
			}
		})
	}
}
