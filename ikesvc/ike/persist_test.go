package ike

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/wire"
)

// stateBox is the RAM file of a daemon: the last state its engine saved.
type stateBox struct {
	mu    sync.Mutex
	data  []byte
	saves int
}

func (b *stateBox) save(d []byte) {
	b.mu.Lock()
	b.data, b.saves = bytes.Clone(d), b.saves+1
	b.mu.Unlock()
}

func (b *stateBox) get() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.data)
}

// newSavingPair is newPair with both engines saving their state.
func newSavingPair(t *testing.T, o pairOpts) (p *pair, boxA, boxB *stateBox) {
	t.Helper()
	boxA, boxB = &stateBox{}, &stateBox{}
	o.aConfig = func(c *Config) { c.SaveState = boxA.save }
	o.bConfig = func(c *Config) { c.SaveState = boxB.save }
	return newPair(t, o), boxA, boxB
}

// crash ends ep's engine as a SIGKILL would (the kernel keeps everything,
// nothing more is sent) and starts a new one on the same kernel, restored
// from data, configured with pc. It returns Restore's error.
func (p *pair) crash(t *testing.T, ep *endpoint, box *stateBox, data []byte, pcs ...PeerConfig) error {
	t.Helper()
	old := ep.engine
	old.Detach()
	cfg := old.cfg
	cfg.SaveState = box.save
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep.engine = e
	p.net.engines[ep.addr] = e
	t.Cleanup(func() { e.Close() })
	rerr := e.Restore(data)
	if _, err := e.SetPeers(pcs); err != nil {
		t.Fatal(err)
	}
	return rerr
}

// sides names the restarted endpoint, its box and config, and the other.
func (p *pair) sides(who string, boxA, boxB *stateBox) (ep *endpoint, box *stateBox, pc PeerConfig, other *endpoint) {
	if who == "a" {
		return p.a, boxA, p.pa, p.b
	}
	return p.b, boxB, p.pb, p.a
}

// outSAsTowards counts the outbound SAs to dst in s.
func outSAsTowards(s kernel.Set, dst netip.Addr) int {
	n := 0
	for _, sa := range s.SAs {
		if sa.Dst == dst {
			n++
		}
	}
	return n
}

func TestRestartContinuesSAs(t *testing.T) {
	for _, who := range []string{"a", "b"} {
		t.Run("restart "+who, func(t *testing.T) {
			p, boxA, boxB := newSavingPair(t, pairOpts{mode: kernel.ModeTunnel, rekey: time.Minute, tunnelNetworks: true,
				aESP: "aes128-sha256-ecp256", bESP: "aes128-sha256-ecp256"})
			p.pa.DPDInterval, p.pb.DPDInterval = 10*time.Second, 10*time.Second
			p.pa.IKERekeyTime, p.pb.IKERekeyTime = 3*time.Minute, 3*time.Minute
			p.start(t)
			p.checkUp(t, kernel.ModeTunnel)
			p.advance(t, 5*time.Second)
			ep, box, pc, other := p.sides(who, boxA, boxB)
			before, kernelBefore := ep.only(t), ep.kernelSet(t)
			added := map[kernel.SAID]time.Time{}
			for _, sa := range kernelBefore.SAs {
				c, err := ep.kern.Counters(context.Background(), sa.ID())
				if err != nil {
					t.Fatal(err)
				}
				added[sa.ID()] = c.Added
			}
			if box.saves == 0 {
				t.Fatal("the engine never saved its state")
			}
			ep.kern.applied = nil
			if err := p.crash(t, ep, box, box.get(), pc); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			p.net.run(t)
			after := ep.only(t)
			if after.SPIi != before.SPIi || after.SPIr != before.SPIr || after.Children[0].InSPI != before.Children[0].InSPI || after.Children[0].OutSPI != before.Children[0].OutSPI {
				t.Fatalf("not the same SAs after the restart:\n%+v\n%+v", before, after)
			}
			p.checkUp(t, kernel.ModeTunnel)
			// The kernel entries were adopted, never removed or re-added.
			ks := ep.kernelSet(t)
			if !reflect.DeepEqual(ks, kernelBefore) {
				t.Fatalf("kernel changed:\n%+v\n%+v", kernelBefore, ks)
			}
			for _, s := range ep.kern.applied {
				if len(s.SAs) != 2 {
					t.Fatalf("an Apply after the restart held %d SAs, want the 2 adopted ones", len(s.SAs))
				}
			}
			for id, at := range added {
				// Re-adding an SA would restart its sequence numbers, which
				// the peer's replay window refuses.
				if c, err := ep.kern.Counters(context.Background(), id); err != nil || !c.Added.Equal(at) {
					t.Fatalf("kernel SA %v was re-added by the restart (%v)", id, err)
				}
			}
			// DPD both ways: message IDs go on where they were.
			p.advance(t, 35*time.Second)
			p.checkUp(t, kernel.ModeTunnel)
			// The CHILD_SA rekey (at 1 min) and the IKE SA rekey (at 3 min).
			p.advance(t, 25*time.Second)
			p.checkUp(t, kernel.ModeTunnel)
			if c := ep.only(t).Children[0]; c.InSPI == before.Children[0].InSPI {
				t.Fatal("no CHILD_SA rekey after the restart")
			}
			p.advance(t, 2*time.Minute)
			p.checkUp(t, kernel.ModeTunnel)
			if now := ep.only(t); now.SPIi == before.SPIi {
				t.Fatal("no IKE SA rekey after the restart")
			}
			for _, x := range []*endpoint{ep, other} {
				if n := x.log.countLines(func(l string) bool {
					return strings.Contains(l, "dropped") || strings.Contains(l, "retransmitting")
				}); n != 0 || len(x.log.errors) != 0 {
					t.Errorf("%s: %d dropped or retransmitted messages, errors %q", x.name, n, x.log.errors)
				}
			}
		})
	}
}

// TestRestartResumesRequest: the process dies with a request in flight;
// the new one answers its response (when the first try got through) or
// retransmits it on the old schedule (when it was lost).
func TestRestartResumesRequest(t *testing.T) {
	type kind struct {
		name   string
		setup  func(p *pair)
		wait   time.Duration
		match  func(h wire.Header) bool
		verify func(t *testing.T, p *pair, before IKESAStatus)
	}
	isRequest := func(x wire.ExchangeType) func(h wire.Header) bool {
		return func(h wire.Header) bool { return h.Exchange == x && !h.IsResponse() }
	}
	kinds := []kind{
		{"DPD", func(p *pair) { p.pa.DPDInterval = 10 * time.Second }, 10 * time.Second, isRequest(wire.ExchangeInformational),
			func(t *testing.T, p *pair, before IKESAStatus) {
				if st := p.a.only(t); st.SPIi != before.SPIi {
					t.Error("the IKE SA changed")
				}
			}},
		{"CHILD_SA rekey", func(p *pair) {}, time.Minute, isRequest(wire.ExchangeCreateChildSA),
			func(t *testing.T, p *pair, before IKESAStatus) {
				if st := p.a.only(t); st.Children[0].InSPI == before.Children[0].InSPI || st.SPIi != before.SPIi {
					t.Errorf("CHILD_SA not rekeyed on the same IKE SA: %+v", st)
				}
			}},
		{"IKE SA rekey", func(p *pair) { p.pa.IKERekeyTime, p.pb.IKERekeyTime = 30*time.Second, 30*time.Second },
			30 * time.Second, isRequest(wire.ExchangeCreateChildSA),
			func(t *testing.T, p *pair, before IKESAStatus) {
				if st := p.a.only(t); st.SPIi == before.SPIi || st.Children[0].InSPI != before.Children[0].InSPI {
					t.Errorf("IKE SA not rekeyed, or the CHILD_SA changed: %+v", st)
				}
			}},
	}
	for _, k := range kinds {
		for _, lost := range []bool{false, true} {
			name := k.name + ", first try delivered"
			if lost {
				name = k.name + ", first try lost"
			}
			t.Run(name, func(t *testing.T) {
				p, boxA, _ := newSavingPair(t, pairOpts{mode: kernel.ModeTransport, rekey: time.Minute,
					aESP: "aes128-sha256-ecp256", bESP: "aes128-sha256-ecp256"})
				if k.name == "IKE SA rekey" {
					p.pa.RekeyTime, p.pb.RekeyTime = 10*time.Minute, 10*time.Minute
				}
				k.setup(p)
				p.start(t)
				p.checkUp(t, kernel.ModeTransport)
				before := p.a.only(t)
				held := 0
				p.net.hold = func(d datagram) bool {
					h, err := wire.ParseHeader(d.data)
					if err == nil && d.from.Addr() == p.a.addr && k.match(h) && held == 0 {
						held++
						return true
					}
					return false
				}
				p.clock.Advance(k.wait)
				p.net.run(t)
				if held != 1 {
					t.Fatalf("%d requests held, want 1", held)
				}
				p.net.hold = nil
				if err := p.crash(t, p.a, boxA, boxA.get(), p.pa); err != nil {
					t.Fatal(err)
				}
				if lost {
					p.net.held = nil
				} else {
					p.net.release(nil)
				}
				p.advance(t, 3*time.Second)
				p.settle(t) // replaced CHILD_SAs' inbound SAs linger
				p.checkUp(t, kernel.ModeTransport)
				k.verify(t, p, before)
				if lost && p.a.log.countLines(func(l string) bool { return strings.Contains(l, "retransmitting") }) == 0 {
					t.Error("the lost request was not retransmitted")
				}
				p.advance(t, 30*time.Second)
				p.checkUp(t, kernel.ModeTransport)
				for _, x := range []*endpoint{p.a, p.b} {
					if len(x.log.errors) != 0 {
						t.Errorf("%s: errors %q", x.name, x.log.errors)
					}
				}
			})
		}
	}
}

// TestRestartDiscardsState: a state that cannot be continued is dropped
// with one line, and the peer is re-keyed make-before-break: the kernel
// always has an outbound SA to the peer, and in the end exactly one pair.
func TestRestartDiscardsState(t *testing.T) {
	tests := []struct {
		name    string
		data    func(saved []byte) []byte
		change  func(pc *PeerConfig)
		wantErr bool
		wantLog int // lines saying the state was discarded
	}{
		{"damaged", func(b []byte) []byte { return b[:len(b)/2] }, nil, true, 0},
		{"other version", func(b []byte) []byte { return bytes.Replace(b, []byte(`"version":1`), []byte(`"version":99`), 1) }, nil, true, 0},
		{"other credentials", func(b []byte) []byte { return bytes.Replace(b, []byte(`"creds":"`), []byte(`"creds":"0`), 1) }, nil, true, 0},
		{"cold start", func([]byte) []byte { return nil }, nil, false, 0},
		{"configuration changed", nil, func(pc *PeerConfig) { pc.DPDInterval = time.Minute }, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, boxA, _ := newSavingPair(t, pairOpts{mode: kernel.ModeTransport})
			p.start(t)
			p.checkUp(t, kernel.ModeTransport)
			before := p.a.only(t)
			data := boxA.get()
			if tt.data != nil {
				data = tt.data(data)
			}
			pc := p.pa
			if tt.change != nil {
				tt.change(&pc)
			}
			p.a.kern.applied = nil
			err := p.crash(t, p.a, boxA, data, pc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Restore: %v, want an error: %v", err, tt.wantErr)
			}
			p.net.run(t)
			if n := p.a.log.count("discarded"); n != tt.wantLog {
				t.Errorf("%d lines about discarded state, want %d: %q", n, tt.wantLog, p.a.log.errors)
			}
			for i, s := range p.a.kern.applied {
				if outSAsTowards(s, p.b.addr) == 0 {
					t.Fatalf("Apply %d left no outbound SA to b: break-before-make", i)
				}
			}
			// B got INITIAL_CONTACT and dropped the old IKE SA at once.
			if n := p.b.log.countLines(func(l string) bool { return strings.Contains(l, "INITIAL_CONTACT from") }); n != 2 {
				t.Errorf("b saw INITIAL_CONTACT %d times, want 2 (cold start, then re-key)", n)
			}
			sb := p.b.only(t)
			if sb.SPIi == before.SPIi {
				t.Fatal("b kept the old IKE SA")
			}
			p.advance(t, StaleReplaceDelay)
			p.settle(t)
			p.checkUp(t, kernel.ModeTransport)
			if st := p.a.only(t); st.SPIi == before.SPIi || st.Children[0].InSPI == before.Children[0].InSPI {
				t.Fatalf("a continued the discarded SA: %+v", st)
			}
		})
	}
}

// TestRestartPeerRemoved: a removed peer's saved SAs and kernel entries go.
func TestRestartPeerRemoved(t *testing.T) {
	p, boxA, _ := newSavingPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	if err := p.crash(t, p.a, boxA, boxA.get()); err != nil {
		t.Fatal(err)
	}
	if n := p.a.log.count("b (removed)"); n != 1 {
		t.Errorf("%d lines about the removed peer, want 1: %q", n, p.a.log.errors)
	}
	if ks := p.a.kernelSet(t); len(ks.SAs) != 0 || len(ks.Policies) != 0 {
		t.Fatalf("the removed peer's kernel entries stay: %+v", ks)
	}
}

// TestInitialContact: only the first IKE_AUTH after a cold start carries
// INITIAL_CONTACT; a restart that restored the SAs sends none.
func TestInitialContact(t *testing.T) {
	p, boxA, _ := newSavingPair(t, pairOpts{mode: kernel.ModeTransport})
	contacts := func() int {
		return p.b.log.countLines(func(l string) bool { return strings.Contains(l, "INITIAL_CONTACT from") })
	}
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	if n := contacts(); n != 1 {
		t.Fatalf("first IKE_AUTH: %d INITIAL_CONTACTs, want 1", n)
	}
	reconnect := func() {
		t.Helper()
		if err := p.a.engine.Terminate("b"); err != nil {
			t.Fatal(err)
		}
		p.net.run(t)
		if err := p.a.engine.Initiate("b"); err != nil {
			t.Fatal(err)
		}
		p.net.run(t)
		p.checkUp(t, kernel.ModeTransport)
	}
	reconnect()
	if n := contacts(); n != 1 {
		t.Fatalf("second IKE_AUTH: %d INITIAL_CONTACTs in all, want still 1", n)
	}
	if err := p.crash(t, p.a, boxA, boxA.get(), p.pa); err != nil {
		t.Fatal(err)
	}
	reconnect()
	if n := contacts(); n != 1 {
		t.Fatalf("after a restoring restart: %d INITIAL_CONTACTs in all, want still 1", n)
	}
	// A reboot: no state. B keeps the old SA until the new IKE_AUTH says
	// INITIAL_CONTACT, then drops it.
	if err := p.crash(t, p.a, boxA, nil, p.pa); err != nil {
		t.Fatal(err)
	}
	p.net.run(t)
	if n := contacts(); n != 2 {
		t.Fatalf("after a cold start: %d INITIAL_CONTACTs in all, want 2", n)
	}
	p.advance(t, StaleReplaceDelay)
	p.settle(t)
	p.checkUp(t, kernel.ModeTransport)
}

// TestInitialContactByIdentity: INITIAL_CONTACT drops the other IKE SAs of
// the peer's identity only, not those of other peers under the same
// configured peer (a DN pattern admits many boards).
func TestInitialContactByIdentity(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	p.checkUp(t, kernel.ModeTransport)
	sa := p.b.engine.sas[hexSPI64(t, p.b.only(t).SPIr)]
	other := &ikeSA{e: p.b.engine, state: StateEstablished, peer: sa.peer, spiR: 42, spiI: 43,
		remoteID: sa.localID} // another identity
	other.timersInit()
	p.b.engine.mu.Lock()
	p.b.engine.sas[42] = other
	sa.dropOthersOfIdentity()
	kept := p.b.engine.sas[42] == other
	p.b.engine.mu.Unlock()
	if !kept {
		t.Fatal("an IKE SA of another identity was dropped")
	}
}

func hexSPI64(t *testing.T, s string) uint64 {
	t.Helper()
	var v uint64
	for _, c := range s {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint64(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint64(c-'a') + 10
		default:
			t.Fatalf("bad SPI %q", s)
		}
	}
	return v
}

// TestPeerFingerprintCoversConfig: every PeerConfig field is in the
// fingerprint, so a saved SA is never continued under another config.
func TestPeerFingerprintCoversConfig(t *testing.T) {
	const fields = 15 // PeerConfig's; a new one belongs in fingerprint too
	if n := reflect.TypeOf(PeerConfig{}).NumField(); n != fields {
		t.Fatalf("PeerConfig has %d fields, the fingerprint covers %d: extend PeerConfig.fingerprint", n, fields)
	}
	base := PeerConfig{Name: "b", Remote: netip.MustParseAddr("192.0.2.2"), RemoteID: matcher(t, "C=JP, O=Example, CN=*"),
		IKE: mustProposals(t, wire.ProtocolIKE, "aes128-sha256-ecp256"), ESP: mustProposals(t, wire.ProtocolESP, "aes128-sha256")}
	changes := map[string]func(*PeerConfig){
		"Name":         func(p *PeerConfig) { p.Name = "c" },
		"Remote":       func(p *PeerConfig) { p.Remote = netip.MustParseAddr("192.0.2.3") },
		"RemoteID":     func(p *PeerConfig) { p.RemoteID = matcher(t, "C=JP, O=Example, CN=b") },
		"LocalID":      func(p *PeerConfig) { p.LocalID.Type, p.LocalID.Data = 2, []byte("x") },
		"Mode":         func(p *PeerConfig) { p.Mode = kernel.ModeTunnel },
		"LocalTS":      func(p *PeerConfig) { p.LocalTS = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")} },
		"RemoteTS":     func(p *PeerConfig) { p.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")} },
		"IKE":          func(p *PeerConfig) { p.IKE = mustProposals(t, wire.ProtocolIKE, "aes256-sha256-ecp256") },
		"ESP":          func(p *PeerConfig) { p.ESP = mustProposals(t, wire.ProtocolESP, "aes256-sha256") },
		"DPDInterval":  func(p *PeerConfig) { p.DPDInterval = time.Second },
		"RekeyTime":    func(p *PeerConfig) { p.RekeyTime = time.Second },
		"IKERekeyTime": func(p *PeerConfig) { p.IKERekeyTime = time.Second },
		"ReauthTime":   func(p *PeerConfig) { p.ReauthTime = time.Second },
		"DPDAction":    func(p *PeerConfig) { p.DPDAction = DPDRestart },
		"StartAction":  func(p *PeerConfig) { p.StartAction = StartTrap },
	}
	if len(changes) != fields {
		t.Fatalf("%d changes for %d fields", len(changes), fields)
	}
	for field, change := range changes {
		c := base
		change(&c)
		if c.fingerprint() == base.fingerprint() {
			t.Errorf("changing %s leaves the fingerprint alone", field)
		}
	}
}

// TestExportIsJSON: the saved state is versioned JSON with the SAs' keys.
func TestExportIsJSON(t *testing.T) {
	p := newPair(t, pairOpts{mode: kernel.ModeTransport})
	p.start(t)
	data, err := p.a.engine.Export()
	if err != nil {
		t.Fatal(err)
	}
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Version != StateVersion || len(st.SAs) != 1 || len(st.SAs[0].Children) != 1 || len(st.SAs[0].Keys.D) == 0 {
		t.Fatalf("saved state: %+v", st)
	}
}

// BenchmarkSaveState is the cost of the state save that follows every
// entry point (one IKE SA with one CHILD_SA), with the state's size.
func BenchmarkSaveState(b *testing.B) {
	p := newPair(b, pairOpts{mode: kernel.ModeTunnel, tunnelNetworks: true})
	p.start(b)
	e := p.a.engine
	var n int
	for b.Loop() {
		data, err := e.Export()
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "state-bytes")
}
