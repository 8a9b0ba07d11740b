// Command charoninterop runs IKE_SA_INIT and IKE_AUTH (PSK) against a
// strongSwan charon using only packages wire and suite, and saves every
// message it sends and receives. run.sh sets up the network namespace and
// charon; the saved messages become the real-message seeds of wire's
// FuzzDecode. It proves against an independent implementation: proposal
// encoding and selection, KE formats, NAT-D hashes, key derivation, SK
// protection in both directions, and TS/ID/AUTH payload encoding.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

func main() {
	local := flag.String("local", "127.0.0.2:5500", "our address (charon holds port 500)")
	remote := flag.String("remote", "127.0.0.1:500", "charon's address")
	proposal := flag.String("ike", "aes128-sha256-ecp256", "IKE proposal to offer")
	psk := flag.String("psk", "interop-secret", "pre-shared key")
	out := flag.String("out", ".", "directory for the captured messages")
	sessions := flag.String("sessions", "", "directory for session records (secrets and messages) replayed by charon_test.go")
	listen := flag.Bool("listen", false, "only capture one request charon initiates, then exit")
	flag.Parse()
	if err := run(*local, *remote, *proposal, *psk, *out, *sessions, *listen); err != nil {
		log.Fatal(err)
	}
}

// session is what charon_test.go needs to replay an exchange offline: the
// throwaway secrets of one test run and the four IKE_SA_INIT/IKE_AUTH messages.
type session struct {
	Suite, PSK             string
	SPIi, SPIr             uint64
	Ni, Nr, Gir            string // hex
	Msg1, Msg2, Msg3, Msg4 string // hex: our init, charon's init, our auth, charon's auth
}

func run(localAddr, remoteAddr, proposal, psk, out, sessions string, listenOnly bool) error {
	laddr := netip.MustParseAddrPort(localAddr)
	raddr := netip.MustParseAddrPort(remoteAddr)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(laddr))
	if err != nil {
		return err
	}
	defer conn.Close()
	save := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	buf := make([]byte, 65536)
	recv := func() ([]byte, error) {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		return bytes.Clone(buf[:n]), err
	}
	if listenOnly {
		b, err := recv()
		if err != nil {
			return err
		}
		save("charon-ike-sa-init-request.bin", b)
		m, err := wire.Decode(bytes.Clone(b), nil)
		if err != nil {
			return fmt.Errorf("decode charon's request: %w", err)
		}
		sa := m.Find(wire.PayloadSA).(*wire.SA)
		log.Printf("charon offered %d IKE proposals", len(sa.Proposals))
		c, err := suite.Select(suite.DefaultIKEProposals(), sa.Proposals, suite.DHGroup(m.Find(wire.PayloadKE).(*wire.KE).Group))
		if err != nil {
			return err
		}
		log.Printf("our defaults select %s from charon's offer", c.Suite)
		return nil
	}

	ours, err := suite.ParseProposals(wire.ProtocolIKE, proposal)
	if err != nil {
		return err
	}
	group := ours[0].DH[0]
	ke, err := suite.NewKeyExchange(group, rand.Reader)
	if err != nil {
		return err
	}
	spiI := binary.BigEndian.Uint64(randBytes(8))
	ni := randBytes(32)
	natSrc := wire.NATDetectionHash(spiI, 0, laddr)
	natDst := wire.NATDetectionHash(spiI, 0, raddr)
	init := &wire.Message{
		Header: wire.Header{InitiatorSPI: spiI, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator},
		Payloads: []wire.Payload{
			&wire.SA{Proposals: suite.WireProposals(ours, nil)},
			&wire.KE{Group: uint16(group), Data: ke.PublicKey()},
			&wire.Nonce{Data: ni},
			&wire.Notify{Type: wire.NotifyNATDetectionSourceIP, Data: natSrc[:]},
			&wire.Notify{Type: wire.NotifyNATDetectionDestinationIP, Data: natDst[:]},
			&wire.Notify{Type: wire.NotifyIKEv2FragmentationSupported},
			&wire.Notify{Type: wire.NotifySignatureHashAlgorithms, Data: wire.AppendHashAlgorithms(nil, wire.HashSHA256, wire.HashSHA384, wire.HashSHA512)},
		},
	}
	msg1, err := init.Encode(nil)
	if err != nil {
		return err
	}
	save("ours-ike-sa-init-request-"+proposal+".bin", msg1)
	if _, err := conn.WriteToUDPAddrPort(msg1, raddr); err != nil {
		return err
	}
	msg2, err := recv()
	if err != nil {
		return fmt.Errorf("waiting for IKE_SA_INIT response: %w", err)
	}
	save("charon-ike-sa-init-response-"+proposal+".bin", msg2)
	resp, err := wire.Decode(bytes.Clone(msg2), nil)
	if err != nil {
		return fmt.Errorf("decode IKE_SA_INIT response: %w", err)
	}
	if n := resp.Notifies(); len(n) > 0 && n[0].Type.IsError() {
		return fmt.Errorf("charon answered %v", n[0].Type)
	}
	choice, err := suite.Accept(ours, resp.Find(wire.PayloadSA).(*wire.SA).Proposals)
	if err != nil {
		return err
	}
	s := choice.Suite
	kr := resp.Find(wire.PayloadKE).(*wire.KE)
	nr := resp.Find(wire.PayloadNonce).(*wire.Nonce).Data
	gir, err := ke.SharedSecret(kr.Data)
	if err != nil {
		return err
	}
	spiR := resp.ResponderSPI
	// Check charon's NAT-D hashes the way RFC 7296 2.23 says (both SPIs now).
	if n := resp.FindNotify(wire.NotifyNATDetectionDestinationIP); n != nil {
		want := wire.NATDetectionHash(spiI, spiR, laddr)
		log.Printf("charon's NAT_DETECTION_DESTINATION_IP matches our hash: %v", bytes.Equal(n.Data, want[:]))
		if !bytes.Equal(n.Data, want[:]) {
			return fmt.Errorf("NAT_DETECTION_DESTINATION_IP mismatch")
		}
	}
	keys, err := suite.DeriveIKEKeys(s, ni, nr, gir, spiI, spiR)
	if err != nil {
		return err
	}
	outC, inC, err := keys.Ciphers(s, true, rand.Reader)
	if err != nil {
		return err
	}
	prf, err := suite.NewPRF(s.PRF)
	if err != nil {
		return err
	}
	idi := &wire.ID{Type: wire.IDFQDN, Data: []byte("ours.test")}
	idBody := append([]byte{byte(idi.Type), 0, 0, 0}, idi.Data...)
	// RFC 7296 2.15: AUTH = prf(prf(PSK, "Key Pad for IKEv2"), msg1 | Nr | prf(SK_pi, IDi'))
	padKey := prf.Sum(nil, []byte(psk), []byte("Key Pad for IKEv2"))
	auth := prf.Sum(nil, padKey, msg1, nr, prf.Sum(nil, keys.PI, idBody))
	esp, _ := suite.ParseProposals(wire.ProtocolESP, "aes128-sha256")
	ts := func(a string) []wire.TrafficSelector {
		ip := netip.MustParseAddr(a)
		return []wire.TrafficSelector{{StartAddr: ip, EndAddr: ip, EndPort: 65535}}
	}
	authReq := &wire.Message{
		Header:    wire.Header{InitiatorSPI: spiI, ResponderSPI: spiR, Exchange: wire.ExchangeIKEAuth, Flags: wire.FlagInitiator, MessageID: 1},
		Encrypted: true,
		Protected: []wire.Payload{
			idi,
			&wire.Auth{Method: wire.AuthSharedKeyMIC, Data: auth},
			&wire.SA{Proposals: suite.WireProposals(esp, randBytes(4))},
			&wire.TrafficSelectors{Selectors: ts(laddr.Addr().String())},
			&wire.TrafficSelectors{Responder: true, Selectors: ts(raddr.Addr().String())},
		},
	}
	msg3, err := authReq.Encode(outC)
	if err != nil {
		return err
	}
	save("ours-ike-auth-request-"+s.String()+".bin", msg3)
	if _, err := conn.WriteToUDPAddrPort(msg3, raddr); err != nil {
		return err
	}
	msg4, err := recv()
	if err != nil {
		return fmt.Errorf("waiting for IKE_AUTH response: %w", err)
	}
	save("charon-ike-auth-response-"+s.String()+".bin", msg4)
	authResp, err := wire.Decode(bytes.Clone(msg4), inC)
	if err != nil {
		return fmt.Errorf("decode IKE_AUTH response: %w", err)
	}
	for _, p := range authResp.Protected {
		if n, ok := p.(*wire.Notify); ok {
			log.Printf("IKE_AUTH response notify %v", n.Type)
		}
	}
	// Verify charon's AUTH: prf(prf(PSK, pad), msg2 | Ni | prf(SK_pr, IDr')).
	idr, _ := authResp.Find(wire.PayloadIDr).(*wire.ID)
	ra, _ := authResp.Find(wire.PayloadAUTH).(*wire.Auth)
	if idr == nil || ra == nil {
		return fmt.Errorf("IKE_AUTH response without IDr/AUTH")
	}
	idrBody := append([]byte{byte(idr.Type), 0, 0, 0}, idr.Data...)
	want := prf.Sum(nil, padKey, msg2, ni, prf.Sum(nil, keys.PR, idrBody))
	if !bytes.Equal(ra.Data, want) {
		return fmt.Errorf("charon's AUTH does not verify")
	}
	if sessions != "" {
		rec := session{Suite: s.String(), PSK: psk, SPIi: spiI, SPIr: spiR,
			Ni: hex.EncodeToString(ni), Nr: hex.EncodeToString(nr), Gir: hex.EncodeToString(gir),
			Msg1: hex.EncodeToString(msg1), Msg2: hex.EncodeToString(msg2), Msg3: hex.EncodeToString(msg3), Msg4: hex.EncodeToString(msg4)}
		j, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sessions, s.String()+".json"), append(j, '\n'), 0o644); err != nil {
			return err
		}
	}
	log.Printf("suite %s: IKE SA with charon established, charon's AUTH verified (IDr %s)", s, idr.Data)
	// Close politely: INFORMATIONAL with Delete IKE.
	del := &wire.Message{
		Header:    wire.Header{InitiatorSPI: spiI, ResponderSPI: spiR, Exchange: wire.ExchangeInformational, Flags: wire.FlagInitiator, MessageID: 2},
		Encrypted: true,
		Protected: []wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}},
	}
	msg5, err := del.Encode(outC)
	if err != nil {
		return err
	}
	conn.WriteToUDPAddrPort(msg5, raddr)
	if msg6, err := recv(); err == nil {
		save("charon-informational-response-"+s.String()+".bin", msg6)
		if _, err := wire.Decode(bytes.Clone(msg6), inC); err != nil {
			return fmt.Errorf("decode INFORMATIONAL response: %w", err)
		}
	}
	return nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return b
}
