package shell

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSplitCommands(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"show version", []string{"show version"}},
		{"configure; load -; commit \"a; b\"", []string{"configure", "load -", `commit "a; b"`}},
		{"set system description 'x;y' ;; commit", []string{"set system description 'x;y'", "commit"}},
		{"configure\nset system hostname gw9 # a comment; not a command\ncommit", []string{"configure", "set system hostname gw9 # a comment; not a command", "commit"}},
		{`commit "quote \" ; inside"`, []string{`commit "quote \" ; inside"`}},
		{"  ;  ", nil},
	}
	for _, tc := range tests {
		got, err := splitCommands(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitCommands(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{`commit "open`, "set system description 'open"} {
		if _, err := splitCommands(bad); err == nil {
			t.Errorf("splitCommands(%q) accepted an unterminated quote", bad)
		}
	}
}

// TestRunCommandStatus: the error RunCommand returns is what an SSH exec
// reports as its exit status.
func TestRunCommandStatus(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, line, stdin string
		wantErr           bool
		wantOut           string
	}{
		{"show version", "show version", "", false, "alixsec v1.2.3"},
		{"unknown command", "frobnicate", "", true, `% unknown command "frobnicate"`},
		{"failing command", "show configuration interfaces eth7", "", true, "% "},
		{"stops at the first failure", "show version; frobnicate; show version", "", true, "alixsec v1.2.3"},
		{"set and commit", "configure; set system hostname gw2; commit by exec", "", false, "committed revision 2"},
		{"invalid set", "configure; set system hostname -bad-; commit never", "", true, "system hostname"},
		{"load without stdin", "configure; load -; commit never", "", true, "no standard input here"},
		{"uncommitted is discarded", "configure; set system hostname gw3", "", false, "uncommitted changes discarded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			env := f.env
			if tc.stdin != "" {
				env.Stdin = strings.NewReader(tc.stdin)
			}
			err := RunCommand(env, tc.line, &out, nil)
			if (err != nil) != tc.wantErr || !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("RunCommand(%q) = %v, output:\n%s\nwant error %v and %q", tc.line, err, out.String(), tc.wantErr, tc.wantOut)
			}
			if tc.name == "stops at the first failure" && strings.Count(out.String(), "alixsec v1.2.3") != 1 {
				t.Fatalf("ran past the failing command:\n%s", out.String())
			}
		})
	}
	ctx := context.Background()
	snap, err := f.env.Client.Running(ctx)
	if err != nil || snap.Revision != 2 || snap.Config.System.Hostname != "gw2" {
		t.Fatalf("running after the exec commands: revision %d hostname %q (%v); want 2, gw2", snap.Revision, snap.Config.System.Hostname, err)
	}
}

func TestRunCommandLoadsStdin(t *testing.T) {
	f := newFixture(t)
	cfg := "set system hostname fleet7\nset interfaces eth0 address 10.99.0.7/24\n"
	var out bytes.Buffer
	env := f.env
	env.Stdin = strings.NewReader(cfg)
	if err := RunCommand(env, `configure; load -; commit "from the fleet tool"`, &out, nil); err != nil {
		t.Fatalf("RunCommand: %v\n%s", err, out.String())
	}
	snap, err := f.env.Client.Running(context.Background())
	if err != nil || snap.Text != cfg || snap.Comment != "from the fleet tool" {
		t.Fatalf("running = %q (%q), %v; want %q", snap.Text, snap.Comment, err, cfg)
	}
	out.Reset()
	env.Stdin = strings.NewReader("set system hostname ok\nset system colour red\n")
	if err := RunCommand(env, "configure; load -; commit bad", &out, nil); err == nil || !strings.Contains(out.String(), "colour") {
		t.Fatalf("a bad line on stdin: %v\n%s", err, out.String())
	}
	if snap2, _ := f.env.Client.Running(context.Background()); snap2.Revision != snap.Revision {
		t.Fatalf("a refused load committed revision %d", snap2.Revision)
	}
}

func TestRegenerateHostKeyAndShowSystem(t *testing.T) {
	f := newFixture(t)
	out := f.exec("show system")
	if !strings.Contains(out, "ssh:       off") || !strings.Contains(out, "ssh host key: ED25519 SHA256:") {
		t.Fatalf("show system without keys:\n%s", out)
	}
	before := out[strings.Index(out, "ssh host key: "):]
	out = f.exec("request system ssh regenerate-host-key")
	if !strings.Contains(out, "committed revision 2: new ssh host key ED25519 SHA256:") {
		t.Fatalf("regenerate:\n%s", out)
	}
	after := f.exec("show system")
	if strings.Contains(after, before) {
		t.Fatalf("show system still shows the old key %q", before)
	}
	if !strings.Contains(f.exec("show history"), "ssh host key regenerated") {
		t.Fatal("the regeneration is not in show history")
	}
}

func TestRunRemoteResizeAndExit(t *testing.T) {
	f := newFixture(t)
	inR, inW := io.Pipe()
	var out syncBuffer
	resize := make(chan Size, 1)
	resize <- Size{Width: 120, Height: 40}
	done := make(chan error, 1)
	go func() { done <- RunRemote(f.env, inR, &out, resize) }()
	io.WriteString(inW, "show version\r")
	io.WriteString(inW, "exit\r")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("RunRemote did not end on exit; output:\n%s", out.String())
	}
	if s := out.String(); !strings.Contains(s, "alixsec> ") || !strings.Contains(s, "alixsec v1.2.3") || strings.Contains(s, "Password") {
		t.Fatalf("remote session output:\n%q", s)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FuzzSplitCommands: splitting never panics, yields trimmed non-empty
// commands, and a command it produced splits into itself (no ';' or
// newline outside quotes is left inside one).
func FuzzSplitCommands(f *testing.F) {
	for _, s := range []string{"show version", `configure; load -; commit "a; b"`, "a # c; d\nb", `x "\";"`, "'", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmds, err := splitCommands(line)
		if err != nil {
			return
		}
		for _, c := range cmds {
			if c == "" || c != strings.TrimSpace(c) {
				t.Fatalf("splitCommands(%q) gave %q", line, c)
			}
			again, err := splitCommands(c)
			if err != nil || len(again) != 1 || again[0] != c {
				t.Fatalf("splitCommands(%q) gave %q, which splits into %q, %v", line, c, again, err)
			}
		}
	})
}

func TestRunCommandErrorsToErrOut(t *testing.T) {
	f := newFixture(t)
	var out, errs bytes.Buffer
	err := RunCommand(f.env, "show version; show configuration interfaces eth7", &out, &errs)
	if err == nil || !strings.Contains(out.String(), "alixsec v1.2.3") || strings.Contains(out.String(), "% ") || !strings.HasPrefix(errs.String(), "% ") {
		t.Fatalf("err %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errs.String())
	}
}
