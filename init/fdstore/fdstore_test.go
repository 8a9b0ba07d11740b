package fdstore

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStoreKeepsWhatTheServiceSent: a client's Replace reaches the store
// with its names; the next Begin passes the same sockets and names them
// in the environment; a bad message is refused and keeps the old set.
func TestStoreKeepsWhatTheServiceSent(t *testing.T) {
	udp := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := udp(), udp()
	tests := []struct {
		name      string
		set       []Named
		raw       string // sent as it is instead of set
		wantNames []string
		wantErr   string
	}{
		{"two sockets", []Named{{"ike4", a}, {"natt4", b}}, "", []string{"ike4", "natt4"}, ""},
		{"a new set replaces the old", []Named{{"natt4", b}}, "", []string{"natt4"}, ""},
		{"no FDSTORE=1", nil, "FDNAME=x\n", []string{"natt4"}, "no FDSTORE=1"},
		{"empty set", []Named{}, "", []string{}, ""},
	}
	s := &Store{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess, err := s.Begin()
			if err != nil {
				t.Fatal(err)
			}
			child := sess.child
			c, err := net.FileConn(child)
			if err != nil {
				t.Fatal(err)
			}
			client := &Client{conn: c.(*net.UnixConn)}
			sess.Started()
			if tt.raw != "" {
				_, err = client.conn.Write([]byte(tt.raw))
			} else {
				err = client.Replace(tt.set)
			}
			if err != nil {
				t.Fatal(err)
			}
			client.Close()
			err = sess.End(5 * time.Second)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("End: %v, want %q", err, tt.wantErr)
			}
			if got := s.Names(); strings.Join(got, ":") != strings.Join(tt.wantNames, ":") {
				t.Fatalf("kept %q, want %q", got, tt.wantNames)
			}
			next, err := s.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer next.End(0)
			files := next.ExtraFiles()
			if len(files) != len(tt.wantNames)+1 {
				t.Fatalf("%d files passed, want %d and the store socket", len(files), len(tt.wantNames))
			}
			env := strings.Join(next.Env(), " ")
			want := "LISTEN_FDS=" + strconv.Itoa(len(tt.wantNames)) + " LISTEN_FDNAMES=" + strings.Join(tt.wantNames, ":") + " ALIXSEC_FDSTORE_FD=" + strconv.Itoa(3+len(tt.wantNames))
			if env != want {
				t.Errorf("env %q, want %q", env, want)
			}
			if len(tt.wantNames) > 0 {
				last := files[len(tt.wantNames)-1]
				pc, err := net.FilePacketConn(last)
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				if pc.LocalAddr().String() != b.LocalAddr().String() {
					t.Errorf("stored %s, want the same socket as %s", pc.LocalAddr(), b.LocalAddr())
				}
			}
		})
	}
	s.Drop()
	if s.Len() != 0 {
		t.Fatal("Drop kept descriptors")
	}
}

// TestInheritWithoutStore: without the variables (a host run) there is no
// client and nothing inherited; a bad descriptor number is an error.
func TestInheritWithoutStore(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"host run", nil, false},
		{"garbled", map[string]string{EnvStoreFD: "x"}, true},
		{"stdin", map[string]string{EnvStoreFD: "0"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, files, err := Inherit(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr || c != nil || len(files) != 0 {
				t.Fatalf("client %v, %d files, %v; want an error: %v", c, len(files), err, tt.wantErr)
			}
		})
	}
}
