package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"alixsec.dev/ikesvc/control"
	"alixsec.dev/init/fdstore"
)

// mainEnv makes the test binary run ikesvc's main (TestMain): the
// host-level restart test needs a real process to kill.
const mainEnv = "IKESVC_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Args = append([]string{"ikesvc"}, strings.Fields(os.Getenv(mainEnv+"_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// inode identifies a socket across descriptors.
func inode(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return st.Ino
}

// TestAdoptInheritedSockets: sockets init's fd store passes are used when
// they are the ones ikesvc would open (same socket, so nothing queued in
// them is lost), and closed, with one log line, when not: another port,
// family or kind, or a NAT-T port without the kernel's ESP-in-UDP
// decapsulation; the missing sockets are then opened on their ports.
func TestAdoptInheritedSockets(t *testing.T) {
	port, natt := freePorts(t)
	local := netip.MustParseAddr("127.0.0.1")
	ikeSpec := socketSpec{listen: local, v4: true, port: port}
	nattSpec := socketSpec{listen: local, v4: true, port: natt, natt: true}
	// Each maker returns a socket and its file, the only reference left.
	type maker func(t *testing.T) (uint64, *os.File)
	fileOf := func(t *testing.T, c interface {
		syscall.Conn
		File() (*os.File, error)
		Close() error
	}) (uint64, *os.File) {
		t.Helper()
		ino := inode(t, c)
		f, err := c.File()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		return ino, f
	}
	ours := func(spec socketSpec) maker {
		return func(t *testing.T) (uint64, *os.File) {
			s, err := openSocket(spec)
			if err != nil {
				t.Fatal(err)
			}
			return fileOf(t, s.conn)
		}
	}
	plainUDP := func(network, addr string) maker {
		return func(t *testing.T) (uint64, *os.File) {
			c, err := net.ListenPacket(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			return fileOf(t, c.(*net.UDPConn))
		}
	}
	tcp := func(t *testing.T) (uint64, *os.File) {
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		return fileOf(t, ln.(*net.TCPListener))
	}
	tests := []struct {
		name      string
		inherited []maker
		adopted   []bool // per socket of the transport (IKE, NAT-T): the inherited one
		closed    int    // inherited sockets named in the log line
	}{
		{"none: both opened", nil, []bool{false, false}, 0},
		{"both ours: both adopted", []maker{ours(nattSpec), ours(ikeSpec)}, []bool{true, true}, 0},
		{"NAT-T port without UDP_ENCAP: replaced", []maker{ours(ikeSpec), plainUDP("udp4", fmt.Sprintf("127.0.0.1:%d", natt))}, []bool{true, false}, 1},
		{"IKE port with UDP_ENCAP: replaced", []maker{ours(socketSpec{listen: local, v4: true, port: port, natt: true})}, []bool{false, false}, 1},
		{"another address and family, TCP: closed", []maker{plainUDP("udp4", "127.0.0.1:0"), plainUDP("udp6", "[::1]:0"), tcp}, []bool{false, false}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &inheritedSockets{}
			inodes := map[uint64]bool{}
			for i, mk := range tt.inherited {
				ino, f := mk(t)
				inodes[ino] = true
				in.files = append(in.files, fdstore.File{Name: fmt.Sprintf("s%d", i), File: f})
			}
			var lines []string
			logf := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
			tr, err := listenUDP(local, port, natt, logf, in)
			if err != nil {
				t.Fatalf("%v; log: %q", err, lines)
			}
			defer tr.Close()
			if len(tr.sockets) != 2 {
				t.Fatalf("%d sockets", len(tr.sockets))
			}
			for i, s := range tr.sockets {
				spec := []socketSpec{ikeSpec, nattSpec}[i]
				if got := inodes[inode(t, s.conn)]; got != tt.adopted[i] {
					t.Errorf("%s: adopted %v, want %v", spec.name(), got, tt.adopted[i])
				}
				rc, _ := s.conn.SyscallConn()
				var why string
				rc.Control(func(fd uintptr) { why = spec.mismatch(int(fd)) })
				if why != "" {
					t.Errorf("%s: %s", spec.name(), why)
				}
			}
			closed := 0
			for _, l := range lines {
				if strings.Contains(l, "not ours, closed") {
					closed += strings.Count(l, "(")
				}
			}
			if closed != tt.closed || (tt.closed > 0) != (len(lines) == 1) {
				t.Errorf("log %q: want one line naming %d sockets", lines, tt.closed)
			}
			if len(in.files) != 0 {
				t.Errorf("%d inherited files left open", len(in.files))
			}
		})
	}
}

// ikesvcProc is ikesvc as its own process (the test binary in main),
// with or without init's fd store.
type ikesvcProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	sess   *fdstore.Session
}

func startProc(t *testing.T, store *fdstore.Store, args ...string) *ikesvcProc {
	t.Helper()
	p := &ikesvcProc{stderr: &syncBuffer{}}
	p.cmd = exec.Command(os.Args[0])
	p.cmd.Env = append(os.Environ(), mainEnv+"=1", mainEnv+"_ARGS="+strings.Join(args, " "))
	p.cmd.Stderr = p.stderr
	if store != nil {
		var err error
		if p.sess, err = store.Begin(); err != nil {
			t.Fatal(err)
		}
		p.cmd.ExtraFiles = p.sess.ExtraFiles()
		p.cmd.Env = append(p.cmd.Env, p.sess.Env()...)
	}
	err := p.cmd.Start()
	if p.sess != nil {
		p.sess.Started()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill(t) })
	return p
}

// kill is SIGKILL; the store reads what the process sent.
func (p *ikesvcProc) kill(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	if p.sess != nil {
		if err := p.sess.End(time.Second); err != nil {
			t.Error(err)
		}
	}
}

// TestIKEQueuedWhileNoIkesvcRuns: ikesvc hands its sockets to the fd
// store and is killed; an IKE_SA_INIT sent while no ikesvc process runs
// waits in the kept socket, and the next ikesvc, which adopts it, answers
// it. Without the store the request is lost (the port was closed). On
// loopback: a is 127.0.0.1 (the test, replaying a's IKE_SA_INIT), b is
// 127.0.0.2.
func TestIKEQueuedWhileNoIkesvcRuns(t *testing.T) {
	tests := []struct {
		name      string
		store     bool
		wantReply bool
	}{
		{"with the fd store: answered", true, true},
		{"without: lost", false, false},
	}
	port, natt := freePorts(t)
	dir := t.TempDir()
	p := newHostPKI(t)
	a, b := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	bAddr := &net.UDPAddr{IP: b.AsSlice(), Port: int(port)}

	// A real IKE_SA_INIT of a: caught by the test in b's place.
	catch, err := net.ListenUDP("udp4", bAddr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	da := startDaemon(t, ctx, dir, "a", p.hostConfig(t, "a", a, "b", b, "start"), a.String(), port, natt)
	catch.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := catch.Read(buf)
	cancel()
	<-da.done
	catch.Close()
	if err != nil {
		t.Fatalf("no IKE_SA_INIT from a: %v\n%s", err, da.stderr.String())
	}
	request := append([]byte(nil), buf[:n]...)
	if len(request) < 28 || request[18] != 34 {
		t.Fatalf("caught % x, want an IKE_SA_INIT", request[:min(len(request), 28)])
	}

	cfgB := filepath.Join(dir, "b.set")
	if err := os.WriteFile(cfgB, []byte(p.hostConfig(t, "b", b, "a", a, "none")), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(name string) []string {
		return []string{"-config", cfgB, "-kernel", "memory", "-listen", b.String(), "-control", filepath.Join(dir, name+".sock"),
			"-port", fmt.Sprint(port), "-natt-port", fmt.Sprint(natt), "-v"}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var store *fdstore.Store
			if tt.store {
				store = &fdstore.Store{}
				defer store.Drop()
			}
			first := startProc(t, store, args("b1")...)
			waitFor(t, "b's first run", func() bool {
				c, err := control.Dial(filepath.Join(dir, "b1.sock"))
				if err != nil {
					return false
				}
				c.Close()
				return store == nil || store.Len() == 2
			})
			first.kill(t)
			if store != nil {
				if names := strings.Join(store.Names(), " "); names != fmt.Sprintf("ike-udp4-%d natt-udp4-%d", port, natt) {
					t.Fatalf("the store keeps %q", names)
				}
			}
			// No ikesvc runs now: a sends its IKE_SA_INIT.
			peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: a.AsSlice(), Port: int(port)})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if _, err := peer.WriteToUDP(request, bAddr); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			second := startProc(t, store, args("b2")...)
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := peer.Read(buf)
			gotReply := err == nil && n >= 28 && buf[18] == 34 && buf[19]&0x20 != 0 && bytes.Equal(buf[:8], request[:8])
			if gotReply != tt.wantReply {
				t.Fatalf("IKE_SA_INIT response %v (%v), want %v; b's second run:\n%s", gotReply, err, tt.wantReply, second.stderr.String())
			}
			if gotReply {
				t.Logf("the second run answered the request sent while none ran: SPIi %x, %d bytes", binary.BigEndian.Uint64(buf[:8]), n)
			}
			if strings.Contains(second.stderr.String(), "not ours") {
				t.Errorf("the second run closed inherited sockets:\n%s", second.stderr.String())
			}
			second.kill(t)
		})
	}
}
