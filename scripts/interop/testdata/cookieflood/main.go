// Command cookieflood is the half-open exhaustion attacker of the
// harness's flood test: from every local address it is given it sends
// IKE_SA_INIT requests to a responder at a steady rate, answers each
// COOKIE the way a real initiator does (RFC 7296 2.6: the same request
// again, the cookie first) and never follows up with IKE_AUTH, so every
// request that gets through leaves a half-open SA behind. On SIGTERM or
// SIGINT it prints one line of counts:
//
//	cookieflood: addresses=500 sent=N cookies=C sas=S
//
// (sent: first requests, cookies: COOKIEs answered, sas: IKE_SA_INIT
// responses, i.e. half-open SAs made).
package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"alixsec.dev/ikesvc/suite"
	"alixsec.dev/ikesvc/wire"
)

func main() {
	target := flag.String("target", "", "responder `address:port`")
	first := flag.String("from", "", "first local source `address`")
	count := flag.Int("count", 500, "number of consecutive source addresses from -from")
	rate := flag.Float64("rate", 1000, "first requests per second, all addresses together")
	proposal := flag.String("ike", "aes128-sha256-x25519", "IKE proposal (its DH group must be x25519)")
	flag.Parse()
	if err := run(*target, *first, *count, *rate, *proposal); err != nil {
		fmt.Fprintln(os.Stderr, "cookieflood:", err)
		os.Exit(1)
	}
}

type counts struct{ sent, cookies, sas atomic.Int64 }

func run(target, first string, count int, rate float64, proposal string) error {
	to, err := netip.ParseAddrPort(target)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	from, err := netip.ParseAddr(first)
	if err != nil {
		return fmt.Errorf("-from: %w", err)
	}
	ps, err := suite.ParseProposals(wire.ProtocolIKE, proposal)
	if err != nil {
		return fmt.Errorf("-ike: %w", err)
	}
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	f := &flooder{to: net.UDPAddrFromAddrPort(to), sa: &wire.SA{Proposals: suite.WireProposals(ps, nil)},
		ke: &wire.KE{Group: uint16(suite.DHCurve25519), Data: key.PublicKey().Bytes()}}
	var conns []*net.UDPConn
	for i, a := 0, from; i < count; i, a = i+1, a.Next() {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			return fmt.Errorf("socket on %v: %w", a, err)
		}
		conns = append(conns, c)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	interval := time.Duration(float64(count) / rate * float64(time.Second))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(2)
		go func() { defer wg.Done(); f.read(c) }()
		go func() {
			defer wg.Done()
			// Spread the sources over the interval instead of in step.
			time.Sleep(interval * time.Duration(i) / time.Duration(len(conns)))
			f.send(ctx, c, interval)
		}()
	}
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	fmt.Printf("cookieflood: addresses=%d sent=%d cookies=%d sas=%d\n", count, f.n.sent.Load(), f.n.cookies.Load(), f.n.sas.Load())
	return nil
}

type flooder struct {
	to *net.UDPAddr
	sa *wire.SA
	ke *wire.KE
	n  counts
}

// request is an IKE_SA_INIT request; nonce and SPI come from spi, so the
// answer to a COOKIE is rebuilt from the response's SPI alone.
func (f *flooder) request(spi uint64, cookie []byte) ([]byte, error) {
	nonce := binary.BigEndian.AppendUint64(make([]byte, 24), spi)
	var payloads []wire.Payload
	if cookie != nil {
		payloads = append(payloads, &wire.Notify{Type: wire.NotifyCookie, Data: cookie})
	}
	payloads = append(payloads, f.sa, f.ke, &wire.Nonce{Data: nonce})
	m := &wire.Message{Header: wire.Header{InitiatorSPI: spi, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator}, Payloads: payloads}
	return m.Encode(nil)
}

func (f *flooder) send(ctx context.Context, c *net.UDPConn, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return
		}
		spi := binary.BigEndian.Uint64(b[:]) | 1
		if p, err := f.request(spi, nil); err == nil {
			if _, err := c.WriteToUDP(p, f.to); err == nil {
				f.n.sent.Add(1)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// read answers COOKIEs and counts the responses that made a half-open SA.
func (f *flooder) read(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		m, err := wire.Decode(buf[:n], nil)
		if err != nil || !m.IsResponse() {
			continue
		}
		if ck := m.FindNotify(wire.NotifyCookie); ck != nil {
			if p, err := f.request(m.InitiatorSPI, ck.Data); err == nil {
				if _, err := c.WriteToUDP(p, f.to); err == nil {
					f.n.cookies.Add(1)
				}
			}
			continue
		}
		if m.Find(wire.PayloadKE) != nil {
			f.n.sas.Add(1)
		}
	}
}
