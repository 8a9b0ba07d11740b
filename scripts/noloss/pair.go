package noloss

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"alixsec.dev/scripts/interop"
	"alixsec.dev/scripts/qemu"
)

// The boards' addresses on their virtual link.
var (
	Moon4, Sun4 = netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("10.77.1.2")
	Moon6, Sun6 = netip.MustParseAddr("fd77:1::1"), netip.MustParseAddr("fd77:1::2")
)

// Pair is two boards, moon and sun, joined by a QEMU socket link on
// loopback. Each boots from its own copy of the image, so its
// configuration survives a reboot and a power cut like a CF card's; a
// guest reboot restarts the board inside the same QEMU process.
type Pair struct {
	Moon, Sun *qemu.Board
	disks     map[*qemu.Board]string
	args      map[*qemu.Board][]string
	cancel    context.CancelFunc
	ctx       context.Context
	old       []*qemu.VM // VMs of earlier power cycles, for the logs
}

// NewPair copies image for both boards into dir and wires them; extra
// holds more QEMU arguments per board name (a second disk). Boot starts
// them.
func NewPair(image, dir string, extra map[string][]string) (*Pair, error) {
	ports, err := qemu.UDPPorts(2)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pair{disks: map[*qemu.Board]string{}, args: map[*qemu.Board][]string{}, ctx: ctx, cancel: cancel}
	for i, name := range []string{"moon", "sun"} {
		b := &qemu.Board{Name: name}
		disk := filepath.Join(dir, name+".img")
		if err := copyFile(image, disk); err != nil {
			cancel()
			return nil, err
		}
		p.disks[b] = disk
		p.args[b] = append([]string{
			"-netdev", fmt.Sprintf("socket,id=l,udp=127.0.0.1:%d,localaddr=127.0.0.1:%d", ports[1-i], ports[i]),
			"-device", fmt.Sprintf("e1000,netdev=l,mac=52:54:00:77:01:0%d", i+1),
		}, extra[name]...)
		if name == "moon" {
			p.Moon = b
		} else {
			p.Sun = b
		}
	}
	return p, nil
}

// Boards returns moon and sun.
func (p *Pair) Boards() []*qemu.Board { return []*qemu.Board{p.Moon, p.Sun} }

// PowerOn starts QEMU for both boards (a power cut first if they run)
// and waits for both CLI prompts.
func (p *Pair) PowerOn() error {
	p.PowerCut()
	for _, b := range p.Boards() {
		vm, err := qemu.Start(p.ctx, qemu.Config{Image: p.disks[b], Extra: p.args[b]})
		if err != nil {
			return fmt.Errorf("board %s: %w", b.Name, err)
		}
		b.VM = vm
	}
	return qemu.Each(p.Boards(), (*qemu.Board).WaitBoot)
}

// clockSkew checks a booted board's clock against the host's: under a
// heavily loaded host the guest kernel sometimes calibrates its TSC wrong
// and its time runs several times too fast, which breaks every timeout
// in the guest (and every figure). It returns the guest seconds per host
// second, from `show system` uptimes (whole seconds) 5 s apart.
func clockSkew(b *qemu.Board) (float64, error) {
	read := func() (time.Duration, time.Time, error) {
		out, err := b.Run("show system")
		at := time.Now()
		if err != nil {
			return 0, at, err
		}
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "uptime:"); ok {
				d, err := time.ParseDuration(strings.TrimSpace(v))
				return d, at, err
			}
		}
		return 0, at, fmt.Errorf("board %s: no uptime in show system:\n%s", b.Name, out)
	}
	u1, t1, err := read()
	if err != nil {
		return 0, err
	}
	time.Sleep(6 * time.Second)
	u2, t2, err := read()
	if err != nil {
		return 0, err
	}
	return (u2 - u1).Seconds() / t2.Sub(t1).Seconds(), nil
}

// PowerOnChecked is PowerOn, repeated (up to 3 times) while a board's
// clock runs more than 50% off the host's.
func (p *Pair) PowerOnChecked(logf func(string, ...any)) error {
	for try := 1; ; try++ {
		if err := p.PowerOn(); err != nil {
			return err
		}
		var ratio [2]float64
		err := qemu.Each(p.Boards(), func(b *qemu.Board) error {
			r, err := clockSkew(b)
			ratio[map[*qemu.Board]int{p.Moon: 0, p.Sun: 1}[b]] = r
			return err
		})
		if err != nil {
			return err
		}
		bad := ""
		for i, b := range p.Boards() {
			if r := ratio[i]; r > 1.5 || r < 0.67 {
				bad += fmt.Sprintf(" %s runs at %.1fx real time;", b.Name, r)
			}
		}
		if bad == "" {
			return nil
		}
		if try == 3 {
			return fmt.Errorf("guest clocks wrong after 3 boots (host too loaded?):%s", bad)
		}
		logf("guest clock wrong (TSC calibrated under host load?):%s booting again", bad)
	}
}

// PowerCut kills both QEMUs (the power cord, not a shutdown).
func (p *Pair) PowerCut() {
	for _, b := range p.Boards() {
		if b.VM != nil {
			b.VM.Stop()
			p.old = append(p.old, b.VM)
		}
	}
}

// Close stops the boards.
func (p *Pair) Close() {
	p.PowerCut()
	p.cancel()
}

// Logs returns the console logs of both boards, earlier power cycles
// first, each with the lines that say why something crashed.
func (p *Pair) Logs() string {
	var b strings.Builder
	seen := map[*qemu.VM]bool{}
	for _, vm := range append(p.old, p.Moon.VM, p.Sun.VM) {
		if vm == nil || seen[vm] {
			continue
		}
		seen[vm] = true
		log := vm.Log()
		fmt.Fprintf(&b, "==== console log (%d bytes) ====\n%s\n", len(log), log)
		if c := qemu.CrashLines(log, 12); c != "" {
			fmt.Fprintf(&b, "==== crash lines ====\n%s\n", c)
		}
	}
	return b.String()
}

// BaseLines are a board's addresses and PKI from its alixca bundle.
func BaseLines(pki *interop.PKI, host string, addr4, addr6 netip.Addr) []string {
	return append(qemu.SetLines(pki.Hosts[host].ConfigSet),
		"delete interfaces eth0 address 10.99.0.1/24",
		"set interfaces eth0 address "+addr4.String()+"/24",
		"set interfaces eth0 address "+addr6.String()+"/64")
}

// The peers' proposals.
const (
	IKEProposal = "aes128gcm16-prfsha256-x25519"
	ESPProposal = "aes128gcm16-x25519"
)

// Peer is one IPsec peer entry between the boards: moon initiates at
// start, sun admits any host of the CA by DN pattern.
type Peer struct {
	Name string // entry name on both boards
	Mode string // transport or tunnel
}

// Lines are the `set` lines of the peer on one side: local and remote
// are that side's and the other's address; remoteID is the other's DN
// (the initiator's side names it exactly).
func (pe Peer) Lines(local, remote netip.Addr, remoteID string, initiate bool) []string {
	pre := "set ipsec peer " + pe.Name + " "
	lines := []string{pre + "address " + remote.String()}
	if initiate {
		lines = append(lines, pre+fmt.Sprintf("remote-id %q", remoteID), pre+"start-action start")
	} else {
		lines = append(lines, pre+fmt.Sprintf("remote-id-pattern %q", interop.HostPattern), pre+"start-action none")
	}
	// X25519 keeps the handshakes and PFS rekeys cheap under emulation
	// (the default's MODP-2048 costs seconds of TCG per exchange).
	lines = append(lines, pre+"mode "+pe.Mode, pre+"ike-proposal "+IKEProposal, pre+"esp-proposal "+ESPProposal)
	if pe.Mode == "tunnel" {
		lines = append(lines,
			pre+"local-ts "+netip.PrefixFrom(local, local.BitLen()).String(),
			pre+"remote-ts "+netip.PrefixFrom(remote, remote.BitLen()).String())
	}
	return lines
}

// WaitEstablished polls both boards' `show ipsec sa` (through their
// shells) until each shows peer ESTABLISHED with a CHILD_SA of its mode.
func WaitEstablished(shells []*Shell, pe Peer, timeout time.Duration) error {
	re := qemu.Established(pe.Name, pe.Mode)
	for _, s := range shells {
		var out string
		deadline := time.Now().Add(timeout)
		for {
			var err error
			out, err = s.CLI("show ipsec sa")
			if err == nil && re.MatchString(out) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("board %s: no ESTABLISHED %s SA %s after %v (%v):\n%s", s.B.Name, pe.Mode, pe.Name, timeout, err, out)
			}
			time.Sleep(time.Second)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
