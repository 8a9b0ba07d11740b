package suite

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"alixsec.dev/ikesvc/wire"
)

func TestParseProposal(t *testing.T) {
	ike, esp := wire.ProtocolIKE, wire.ProtocolESP
	tests := []struct {
		proto wire.ProtocolID
		in    string
		want  Proposal // zero Protocol: an error is expected
	}{
		{ike, "aes128-sha256-modp2048", Proposal{Protocol: ike, Encr: []Encr{{EncrAESCBC, 128}}, Integ: []IntegID{IntegHMACSHA2_256128}, PRF: []PRFID{PRFHMACSHA2_256}, DH: []DHGroup{DHMODP2048}}},
		{ike, "aes256gcm16-prfsha256-ecp256", Proposal{Protocol: ike, Encr: []Encr{{EncrAESGCM16, 256}}, PRF: []PRFID{PRFHMACSHA2_256}, DH: []DHGroup{DHECP256}}},
		{ike, "aes128-sha1-modp1024", Proposal{Protocol: ike, Encr: []Encr{{EncrAESCBC, 128}}, Integ: []IntegID{IntegHMACSHA1_96}, PRF: []PRFID{PRFHMACSHA1}, DH: []DHGroup{DHMODP1024}}},
		{ike, "chacha20poly1305-prfsha256-x25519", Proposal{Protocol: ike, Encr: []Encr{{EncrChaCha20Poly1305, 256}}, PRF: []PRFID{PRFHMACSHA2_256}, DH: []DHGroup{DHCurve25519}}},
		{ike, "aes128-sha256-prfsha384-curve25519", Proposal{Protocol: ike, Encr: []Encr{{EncrAESCBC, 128}}, Integ: []IntegID{IntegHMACSHA2_256128}, PRF: []PRFID{PRFHMACSHA2_384}, DH: []DHGroup{DHCurve25519}}},
		{ike, "AES128-AES256-SHA256-SHA1-ECP256-MODP2048", Proposal{Protocol: ike, Encr: []Encr{{EncrAESCBC, 128}, {EncrAESCBC, 256}}, Integ: []IntegID{IntegHMACSHA2_256128, IntegHMACSHA1_96}, PRF: []PRFID{PRFHMACSHA2_256, PRFHMACSHA1}, DH: []DHGroup{DHECP256, DHMODP2048}}},
		{esp, "aes128-sha256", Proposal{Protocol: esp, Encr: []Encr{{EncrAESCBC, 128}}, Integ: []IntegID{IntegHMACSHA2_256128}, ESN: []ESN{ESNNo}}},
		{esp, "aes128gcm16", Proposal{Protocol: esp, Encr: []Encr{{EncrAESGCM16, 128}}, ESN: []ESN{ESNNo}}},
		{esp, "aes128-sha256-esn", Proposal{Protocol: esp, Encr: []Encr{{EncrAESCBC, 128}}, Integ: []IntegID{IntegHMACSHA2_256128}, ESN: []ESN{ESNYes}}},
		{esp, "aes128-sha256-noesn", Proposal{Protocol: esp, Encr: []Encr{{EncrAESCBC, 128}}, Integ: []IntegID{IntegHMACSHA2_256128}, ESN: []ESN{ESNNo}}},
		{esp, "aes256gcm16-ecp256-esn-noesn", Proposal{Protocol: esp, Encr: []Encr{{EncrAESGCM16, 256}}, DH: []DHGroup{DHECP256}, ESN: []ESN{ESNYes, ESNNo}}},
		// Errors.
		{ike, "aes128gcm16-ecp256", Proposal{}},                  // AEAD IKE needs a PRF
		{ike, "aes128gcm16-sha256-prfsha256-ecp256", Proposal{}}, // AEAD with integrity
		{ike, "aes128-ecp256", Proposal{}},                       // no integrity
		{ike, "aes128-sha256", Proposal{}},                       // no DH
		{ike, "aes128-aes128gcm16-sha256-ecp256", Proposal{}},    // mixed AEAD and not
		{ike, "aes128-sha256-ecp256-esn", Proposal{}},            // ESN in IKE
		{ike, "3des-sha1-modp1024", Proposal{}},                  // unknown algorithm
		{ike, "", Proposal{}},
		{esp, "aes128", Proposal{}},                  // no integrity
		{esp, "aes128-sha256-prfsha256", Proposal{}}, // PRF in ESP
		{esp, "aes128gcm16-sha256", Proposal{}},      // AEAD with integrity
		{wire.ProtocolAH, "sha256", Proposal{}},
	}
	for _, tt := range tests {
		t.Run(tt.proto.String()+"/"+tt.in, func(t *testing.T) {
			got, err := ParseProposal(tt.proto, tt.in)
			if tt.want.Protocol == 0 {
				if !errors.Is(err, ErrInvalidProposal) {
					t.Errorf("ParseProposal = %+v, %v; want ErrInvalidProposal", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseProposal: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProposal =\n %+v\nwant\n %+v", got, tt.want)
			}
			// String gives a parseable equivalent, and the wire form converts back.
			again, err := ParseProposal(tt.proto, got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("String() = %q reparses to %+v, %v", got.String(), again, err)
			}
			if back := FromWire(got.Wire(1, nil)); !reflect.DeepEqual(back, got) {
				t.Errorf("FromWire(Wire()) =\n %+v\nwant\n %+v", back, got)
			}
		})
	}
}

func TestWireForm(t *testing.T) {
	p, _ := ParseProposal(wire.ProtocolESP, "aes256-chacha20poly1305-sha256-ecp256-esn")
	if err := p.Validate(); err == nil {
		t.Fatal("mixed AEAD/non-AEAD proposal validated")
	}
	p, _ = ParseProposal(wire.ProtocolESP, "aes256-sha256-ecp256-esn")
	wp := p.Wire(3, []byte{1, 2, 3, 4})
	want := []wire.Transform{
		{Type: wire.TransformENCR, ID: 12, KeyLength: 256},
		{Type: wire.TransformINTEG, ID: 12},
		{Type: wire.TransformDH, ID: 19},
		{Type: wire.TransformESN, ID: 1},
	}
	if wp.Number != 3 || wp.Protocol != wire.ProtocolESP || !reflect.DeepEqual(wp.Transforms, want) {
		t.Errorf("Wire = %+v", wp)
	}
	c, _ := ParseProposal(wire.ProtocolESP, "chacha20poly1305")
	if kl := c.Wire(1, nil).Transforms[0].KeyLength; kl != 0 {
		t.Errorf("ChaCha20-Poly1305 carries key length %d, want none (RFC 7634)", kl)
	}
}

func offered(t *testing.T, proto wire.ProtocolID, list string) []wire.Proposal {
	t.Helper()
	ps, err := ParseProposals(proto, list)
	if err != nil {
		t.Fatal(err)
	}
	return WireProposals(ps, nil)
}

func TestSelect(t *testing.T) {
	ike, esp := wire.ProtocolIKE, wire.ProtocolESP
	tests := []struct {
		name    string
		proto   wire.ProtocolID
		ours    string
		offered string
		ke      DHGroup
		want    string // Suite.String(); "" means no proposal chosen
		number  uint8
	}{
		{"ours first", ike, "aes128gcm16-prfsha256-ecp256,aes256-sha256-modp2048", "aes256-sha256-modp2048,aes128gcm16-prfsha256-ecp256", 0, "aes128gcm16-prfsha256-ecp256", 2},
		{"algorithm order is ours", ike, "aes256-aes128-sha512-sha256-modp3072-modp2048", "aes128-aes256-sha256-sha512-modp2048-modp3072", 0, "aes256-sha512-prfsha512-modp3072", 1},
		{"KE group preferred when acceptable", ike, "aes128-sha256-ecp256-x25519", "aes128-sha256-ecp256-x25519", DHCurve25519, "aes128-sha256-prfsha256-curve25519", 1},
		{"KE group ignored when not ours", ike, "aes128-sha256-ecp256", "aes128-sha256-ecp256-modp2048", DHMODP2048, "aes128-sha256-prfsha256-ecp256", 1},
		{"modp1024 only if configured", ike, "aes128-sha256-modp2048", "aes128-sha1-sha256-modp1024", 0, "", 0},
		{"modp1024 when configured", ike, "aes128-sha1-modp1024", "aes128-sha1-modp1024", 0, "aes128-sha1-prfsha1-modp1024", 1},
		{"key size must match", ike, "aes256-sha256-ecp256", "aes128-sha256-ecp256", 0, "", 0},
		{"ESP default prefers aes128-sha256", esp, "", "aes128gcm16,aes128-sha256", 0, "aes128-sha256-noesn", 2},
		{"ESP PFS required by us", esp, "aes128-sha256-ecp256", "aes128-sha256", 0, "", 0},
		{"ESP PFS offered, not wanted", esp, "aes128-sha256", "aes128-sha256-ecp256", 0, "", 0},
		{"ESP ESN only", esp, "aes128-sha256-noesn-esn", "aes128-sha256-esn", 0, "aes128-sha256-esn", 1},
		{"IKE defaults against strongSwan's classic", ike, "", "aes128-sha256-modp2048", 0, "aes128-sha256-prfsha256-modp2048", 1},
		{"IKE defaults refuse SHA-1", ike, "", "aes128-sha1-modp2048", 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ours []Proposal
			switch {
			case tt.ours != "":
				ours, _ = ParseProposals(tt.proto, tt.ours)
			case tt.proto == ike:
				ours = DefaultIKEProposals()
			default:
				ours = DefaultESPProposals()
			}
			c, err := Select(ours, offered(t, tt.proto, tt.offered), tt.ke)
			if tt.want == "" {
				if !errors.Is(err, ErrNoProposalChosen) {
					t.Errorf("Select = %v, %v; want ErrNoProposalChosen", c.Suite, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if c.Suite.String() != tt.want || c.Number != tt.number {
				t.Errorf("Select = %s (proposal %d), want %s (proposal %d)", c.Suite, c.Number, tt.want, tt.number)
			}
			// The initiator accepts what the responder chose.
			reply := c.Wire(nil)
			sent, _ := ParseProposals(tt.proto, tt.offered)
			acc, err := Accept(sent, []wire.Proposal{reply})
			if err != nil || acc.Suite != c.Suite {
				t.Errorf("Accept = %s, %v; want %s", acc.Suite, err, c.Suite)
			}
		})
	}
}

func TestSelectIgnoresUnknownAttributes(t *testing.T) {
	ours, _ := ParseProposals(wire.ProtocolIKE, "aes128-sha256-ecp256")
	wp := ours[0].Wire(1, nil)
	wp.Transforms[0].UnknownAttributes = true
	if _, err := Select(ours, []wire.Proposal{wp}, 0); !errors.Is(err, ErrNoProposalChosen) {
		t.Errorf("transform with unknown attribute chosen: %v", err)
	}
}

func TestAcceptRejects(t *testing.T) {
	sent, _ := ParseProposals(wire.ProtocolIKE, "aes128-sha256-ecp256-x25519,aes128gcm16-prfsha256-ecp256")
	good := Suite{Protocol: wire.ProtocolIKE, Encr: Encr{EncrAESCBC, 128}, PRF: PRFHMACSHA2_256, Integ: IntegHMACSHA2_256128, DH: DHCurve25519}
	twoDH := good.Proposal().Wire(1, nil)
	twoDH.Transforms = append(twoDH.Transforms, wire.Transform{Type: wire.TransformDH, ID: 19})
	notOffered := good
	notOffered.DH = DHMODP2048
	tests := []struct {
		name  string
		reply []wire.Proposal
	}{
		{"none", nil},
		{"two proposals", []wire.Proposal{good.Proposal().Wire(1, nil), good.Proposal().Wire(1, nil)}},
		{"wrong number", []wire.Proposal{good.Proposal().Wire(2, nil)}},
		{"number zero", []wire.Proposal{good.Proposal().Wire(0, nil)}},
		{"two DH transforms", []wire.Proposal{twoDH}},
		{"group never offered", []wire.Proposal{notOffered.Proposal().Wire(1, nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := Accept(sent, tt.reply); !errors.Is(err, ErrNoProposalChosen) {
				t.Errorf("Accept = %s, %v; want ErrNoProposalChosen", c.Suite, err)
			}
		})
	}
	if c, err := Accept(sent, []wire.Proposal{good.Proposal().Wire(1, []byte{1, 2, 3, 4, 5, 6, 7, 8})}); err != nil || c.Suite != good || len(c.PeerSPI) != 8 {
		t.Errorf("Accept(good) = %+v, %v", c, err)
	}
}

func TestDefaults(t *testing.T) {
	for _, ps := range [][]Proposal{DefaultIKEProposals(), DefaultESPProposals()} {
		for _, p := range ps {
			if err := p.Validate(); err != nil {
				t.Errorf("default %s: %v", p, err)
			}
			for _, g := range p.DH {
				if g == DHMODP1024 {
					t.Errorf("default %s offers MODP-1024", p)
				}
			}
			if strings.Contains(p.String(), "sha1") {
				t.Errorf("default %s uses SHA-1", p)
			}
		}
	}
	if first := DefaultESPProposals()[0]; first.Encr[0] != (Encr{EncrAESCBC, 128}) {
		t.Errorf("first ESP default is %s, want AES-128-CBC (Geode offload)", first)
	}
	if first := DefaultIKEProposals()[0]; first.String() == "" || first.DH[0] != DHECP256 || first.Encr[0] != (Encr{EncrAESGCM16, 128}) {
		t.Errorf("first IKE default is %s, want aes128gcm16-prfsha256-ecp256 first", first)
	}
}
