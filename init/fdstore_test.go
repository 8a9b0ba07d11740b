package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"alixsec.dev/init/fdstore"
)

// The test binary doubles as a service with an fd store (fdstoreChild)
// when fdstoreChildEnv is set.
const fdstoreChildEnv = "INIT_TEST_FDSTORE_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(fdstoreChildEnv); dir != "" {
		os.Exit(fdstoreChild(dir))
	}
	os.Exit(m.Run())
}

// fdstoreChild is one run of the test service: the first opens a UDP
// socket on loopback and stores it; later ones say what they inherited,
// read one datagram from it and store it again. Each run ends as the
// next word of dir/exits says: kill (SIGKILL itself) or an exit code.
func fdstoreChild(dir string) int {
	exits, _ := os.ReadFile(filepath.Join(dir, "exits"))
	starts, _ := os.ReadFile(filepath.Join(dir, "starts"))
	run := strings.Count(string(starts), "x")
	os.WriteFile(filepath.Join(dir, "starts"), append(starts, 'x'), 0o600)
	client, files, err := fdstore.Inherit(os.Getenv)
	if err != nil || client == nil {
		fmt.Printf("no fd store: %v\n", err)
		return 1
	}
	var conn *net.UDPConn
	if len(files) == 0 {
		if conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Printf("opened %s\n", conn.LocalAddr())
	} else {
		for _, f := range files {
			c, err := net.FilePacketConn(f.File)
			f.File.Close()
			if err != nil {
				fmt.Println(err)
				return 1
			}
			conn = c.(*net.UDPConn)
			fmt.Printf("inherited %s %s\n", f.Name, conn.LocalAddr())
		}
		buf := make([]byte, 100)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		fmt.Printf("read %q %v\n", buf[:n], err)
	}
	if err := client.Replace([]fdstore.Named{{Name: "udp-test", Conn: conn}}); err != nil {
		fmt.Println(err)
		return 1
	}
	words := strings.Fields(string(exits))
	if run >= len(words) || words[run] == "kill" {
		unix.Kill(os.Getpid(), unix.SIGKILL)
		time.Sleep(time.Minute)
	}
	var code int
	fmt.Sscan(words[run], &code)
	return code
}

// lockedBuffer is a service's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSupervisorFDStoreRoundTrip: a service stores its socket; after a
// SIGKILL and after a crash its next start inherits the same socket by
// name, with the datagrams sent meanwhile queued in it; exit 125 (gone
// for good) drops the store.
func TestSupervisorFDStoreRoundTrip(t *testing.T) {
	r := testReaper()
	tests := []struct {
		name  string
		exits string // how each run ends
		sends int    // datagrams the later runs read
		kept  int    // descriptors stored once the supervisor returned
	}{
		{"SIGKILL and crash keep the socket, exit 125 drops it", "kill 3 125", 2, 0},
		{"SIGKILL keeps the socket for the next run", "kill 125", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "exits"), []byte(tt.exits), 0o600); err != nil {
				t.Fatal(err)
			}
			out := &lockedBuffer{}
			s := &supervisor{logger: log.New(io.Discard, "", 0), reaper: r, logs: func(string) io.Writer { return out },
				minBackoff: 50 * time.Millisecond, maxBackoff: 100 * time.Millisecond}
			store := &fdstore.Store{}
			svc := &service{name: "fdtest", argv: []string{os.Args[0]}, env: []string{fdstoreChildEnv + "=" + dir}, fds: store}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan struct{})
			go func() { s.run(ctx, svc); close(done) }()
			wait := func(what string, n int) []string {
				t.Helper()
				for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					var found []string
					for _, l := range strings.Split(out.String(), "\n") {
						if strings.HasPrefix(l, what) {
							found = append(found, l)
						}
					}
					if len(found) >= n {
						return found
					}
				}
				t.Fatalf("%d lines %q not seen; the service said:\n%s", n, what, out.String())
				return nil
			}
			opened := wait("opened ", 1)[0]
			addr, err := net.ResolveUDPAddr("udp4", strings.TrimPrefix(opened, "opened "))
			if err != nil {
				t.Fatal(err)
			}
			sender, err := net.DialUDP("udp4", nil, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer sender.Close()
			for i := 1; i <= tt.sends; i++ {
				// Sent while the last run dies or is dead: the stored
				// socket queues it for the next.
				if _, err := fmt.Fprintf(sender, "datagram %d", i); err != nil {
					t.Fatal(err)
				}
				read := wait("read ", i)
				if want := fmt.Sprintf("read %q <nil>", fmt.Sprintf("datagram %d", i)); read[i-1] != want {
					t.Fatalf("run %d: %s, want %s", i+1, read[i-1], want)
				}
			}
			for _, l := range wait("inherited ", tt.sends) {
				if want := "inherited udp-test " + addr.String(); l != want {
					t.Errorf("%s, want %s", l, want)
				}
			}
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatalf("the supervisor did not stop the service after exit 125:\n%s", out.String())
			}
			if n := store.Len(); n != tt.kept {
				t.Errorf("%d descriptors kept after exit 125, want %d", n, tt.kept)
			}
		})
	}
}
