package suite

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"alixsec.dev/ikesvc/wire"
)

// charonSession is a record written by testdata/charoninterop (run.sh):
// one real exchange with strongSwan's charon, with its throwaway secrets.
type charonSession struct {
	Suite, PSK             string
	SPIi, SPIr             uint64
	Ni, Nr, Gir            string
	Msg1, Msg2, Msg3, Msg4 string
}

// TestCharonSessions replays real exchanges with charon offline: from the
// recorded g^ir and nonces it re-derives the keys, opens charon's IKE_AUTH
// response and checks charon's PSK AUTH, and checks that the responder
// side of our code opens and verifies the IKE_AUTH request charon accepted.
func TestCharonSessions(t *testing.T) {
	files, _ := filepath.Glob("testdata/charon/*.json")
	if len(files) == 0 {
		t.Fatal("no recorded charon sessions in testdata/charon")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var rec charonSession
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			h := func(s string) []byte { return unhex(t, s) }
			ni, nr, msg1, msg2 := h(rec.Ni), h(rec.Nr), h(rec.Msg1), h(rec.Msg2)

			// The suite comes from charon's IKE_SA_INIT response, as in a live run.
			m2, err := wire.Decode(bytes.Clone(msg2), nil)
			if err != nil {
				t.Fatal(err)
			}
			m1, err := wire.Decode(bytes.Clone(msg1), nil)
			if err != nil {
				t.Fatal(err)
			}
			choice, err := Accept(fromWireAll(m1.Find(wire.PayloadSA).(*wire.SA).Proposals), m2.Find(wire.PayloadSA).(*wire.SA).Proposals)
			if err != nil {
				t.Fatal(err)
			}
			s := choice.Suite
			if s.String() != rec.Suite {
				t.Fatalf("suite %s, recorded %s", s, rec.Suite)
			}
			keys, err := DeriveIKEKeys(s, ni, nr, h(rec.Gir), rec.SPIi, rec.SPIr)
			if err != nil {
				t.Fatal(err)
			}
			prf, _ := NewPRF(s.PRF)
			padKey := prf.Sum(nil, []byte(rec.PSK), []byte("Key Pad for IKEv2"))
			authOf := func(realMsg, nonce, skp []byte, id *wire.ID) []byte {
				body := append([]byte{byte(id.Type), 0, 0, 0}, id.Data...)
				return prf.Sum(nil, padKey, realMsg, nonce, prf.Sum(nil, skp, body))
			}

			_, iIn, err := keys.Ciphers(s, true, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := wire.Decode(h(rec.Msg4), iIn)
			if err != nil {
				t.Fatalf("open charon's IKE_AUTH response: %v", err)
			}
			idr, _ := resp.Find(wire.PayloadIDr).(*wire.ID)
			auth, _ := resp.Find(wire.PayloadAUTH).(*wire.Auth)
			if idr == nil || auth == nil || auth.Method != wire.AuthSharedKeyMIC {
				t.Fatalf("charon's response lacks IDr or PSK AUTH: %s", payloadNames(resp.Protected))
			}
			if !bytes.Equal(auth.Data, authOf(msg2, ni, keys.PR, idr)) {
				t.Error("charon's AUTH does not verify with the re-derived SK_pr")
			}

			_, rIn, err := keys.Ciphers(s, false, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			req, err := wire.Decode(h(rec.Msg3), rIn)
			if err != nil {
				t.Fatalf("open our IKE_AUTH request as responder: %v", err)
			}
			idi, _ := req.Find(wire.PayloadIDi).(*wire.ID)
			iauth, _ := req.Find(wire.PayloadAUTH).(*wire.Auth)
			if idi == nil || iauth == nil || !bytes.Equal(iauth.Data, authOf(msg1, nr, keys.PI, idi)) {
				t.Error("our AUTH (which charon accepted) does not verify as responder")
			}
		})
	}
}

// fromWireAll converts the proposals we sent back into configured form.
func fromWireAll(wps []wire.Proposal) []Proposal {
	out := make([]Proposal, len(wps))
	for i, wp := range wps {
		out[i] = FromWire(wp)
	}
	return out
}

func payloadNames(ps []wire.Payload) string {
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p.PayloadType().String() + " ")
	}
	return b.String()
}
