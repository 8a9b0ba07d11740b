package suite_test

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

// An IKE_SA_INIT exchange and the first protected message, end to end, as
// the state machine drives these packages.
func Example() {
	// Initiator: offer the defaults, guess P-256 for the KE payload.
	ours := suite.DefaultIKEProposals()
	kei, _ := suite.NewKeyExchange(suite.DHECP256, rand.Reader)
	ni := bytes.Repeat([]byte{1}, 32)
	req := &wire.Message{
		Header: wire.Header{InitiatorSPI: 0x0102030405060708, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator},
		Payloads: []wire.Payload{
			&wire.SA{Proposals: suite.WireProposals(ours, nil)},
			&wire.KE{Group: uint16(kei.Group()), Data: kei.PublicKey()},
			&wire.Nonce{Data: ni},
		},
	}
	msg1, _ := req.Encode(nil)

	// Responder: decode, choose, answer.
	in, _ := wire.Decode(msg1, nil)
	offered := in.Find(wire.PayloadSA).(*wire.SA).Proposals
	ke := in.Find(wire.PayloadKE).(*wire.KE)
	choice, err := suite.Select(suite.DefaultIKEProposals(), offered, suite.DHGroup(ke.Group))
	if err != nil {
		fmt.Println("NO_PROPOSAL_CHOSEN:", err)
		return
	}
	ker, _ := suite.NewKeyExchange(choice.Suite.DH, rand.Reader)
	secretR, _ := ker.SharedSecret(ke.Data)
	nr := bytes.Repeat([]byte{2}, 32)
	resp := &wire.Message{
		Header: wire.Header{InitiatorSPI: in.InitiatorSPI, ResponderSPI: 0x1112131415161718, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagResponse},
		Payloads: []wire.Payload{
			&wire.SA{Proposals: []wire.Proposal{choice.Wire(nil)}},
			&wire.KE{Group: uint16(ker.Group()), Data: ker.PublicKey()},
			&wire.Nonce{Data: nr},
		},
	}
	msg2, _ := resp.Encode(nil)
	keysR, _ := suite.DeriveIKEKeys(choice.Suite, ni, nr, secretR, in.InitiatorSPI, 0x1112131415161718)

	// Initiator: check the choice, derive the same keys.
	back, _ := wire.Decode(msg2, nil)
	accepted, err := suite.Accept(ours, back.Find(wire.PayloadSA).(*wire.SA).Proposals)
	if err != nil {
		fmt.Println(err)
		return
	}
	secretI, _ := kei.SharedSecret(back.Find(wire.PayloadKE).(*wire.KE).Data)
	keysI, _ := suite.DeriveIKEKeys(accepted.Suite, ni, nr, secretI, back.InitiatorSPI, back.ResponderSPI)

	// IKE_AUTH travels in an SK payload sealed with SK_ei/SK_ai.
	outI, _, _ := keysI.Ciphers(accepted.Suite, true, rand.Reader)
	_, inR, _ := keysR.Ciphers(choice.Suite, false, rand.Reader)
	auth := &wire.Message{
		Header:    wire.Header{InitiatorSPI: back.InitiatorSPI, ResponderSPI: back.ResponderSPI, Exchange: wire.ExchangeIKEAuth, Flags: wire.FlagInitiator, MessageID: 1},
		Encrypted: true,
		Protected: []wire.Payload{&wire.ID{Type: wire.IDFQDN, Data: []byte("alix1.example")}},
	}
	msg3, _ := auth.Encode(outI)
	opened, err := wire.Decode(msg3, inR)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("suite:", accepted.Suite)
	fmt.Println("IDi:", string(opened.Find(wire.PayloadIDi).(*wire.ID).Data))
	// Output:
	// suite: aes128gcm16-prfsha256-ecp256
	// IDi: alix1.example
}
