package shell

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"alixsec.dev/firmware/updfile"
)

// fakeFirmware records what the shell hands it.
type fakeFirmware struct {
	got   []byte
	extra []updfile.PublicKey
	err   error
}

func (f *fakeFirmware) Upgrade(ctx context.Context, r io.Reader, extra []updfile.PublicKey, progress io.Writer) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	f.got, f.extra = b, extra
	if f.err != nil {
		return "", f.err
	}
	io.WriteString(progress, "verified v2\n")
	return "v2", nil
}

func (f *fakeFirmware) Rollback() (string, error) { return "b", f.err }

func (f *fakeFirmware) Status() ([]string, error) {
	return []string{"firmware:  slot a running v1, boot default slot a"}, nil
}

func TestRequestSystemUpgrade(t *testing.T) {
	pub, _, err := updfile.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/alix.upd" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "update over http")
	}))
	defer srv.Close()

	tests := []struct {
		name     string
		line     string
		stdin    io.Reader
		fwErr    error
		want     string // substring of the output
		got      string // what Firmware.Upgrade read ("" if not called)
		rebooted bool
		keys     bool
	}{
		{name: "stdin", line: "request system upgrade -", stdin: strings.NewReader("update on stdin"),
			want: "upgrade to v2 installed", got: "update on stdin", rebooted: true, keys: true},
		{name: "http", line: "request system upgrade " + srv.URL + "/alix.upd",
			want: "verified v2", got: "update over http", rebooted: true, keys: true},
		{name: "http 404", line: "request system upgrade " + srv.URL + "/nope.upd", want: "404 Not Found"},
		{name: "no stdin", line: "request system upgrade -", want: "this session has no input stream"},
		{name: "not a URL", line: "request system upgrade /tmp/x.upd", want: "neither an http:// or https:// URL nor -"},
		{name: "refused", line: "request system upgrade -", stdin: strings.NewReader("bad"), fwErr: updfile.ErrBadSig,
			want: "% request system upgrade: signature does not verify", got: "bad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			fw := &fakeFirmware{err: tc.fwErr}
			f.sh.env.Firmware = fw
			f.sh.env.Stdin = tc.stdin
			f.exec("configure", "set system update trusted-key ci "+pub.String(), "commit", "exit")
			out := f.exec(tc.line)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("%s printed:\n%s\nwant %q", tc.line, out, tc.want)
			}
			if string(fw.got) != tc.got {
				t.Fatalf("Upgrade read %q, want %q", fw.got, tc.got)
			}
			if rebooted := len(f.signals) == 1 && f.signals[0] == syscall.SIGTERM; rebooted != tc.rebooted {
				t.Fatalf("signals to init %v, want reboot %v", f.signals, tc.rebooted)
			}
			if tc.keys && (len(fw.extra) != 1 || fw.extra[0].Num != pub.Num) {
				t.Fatalf("trusted keys from the config = %v", fw.extra)
			}
		})
	}
}

func TestRequestSystemRollbackAndShow(t *testing.T) {
	f := newFixture(t)
	f.sh.env.Firmware = &fakeFirmware{}
	if out := f.exec("request system rollback"); !strings.Contains(out, "tries slot b once") || len(f.signals) != 1 {
		t.Fatalf("rollback printed %q, signals %v", out, f.signals)
	}
	if out := f.exec("show system"); !strings.Contains(out, "firmware:  slot a running v1, boot default slot a") {
		t.Fatalf("show system:\n%s", out)
	}
	f.sh.env.Firmware = &fakeFirmware{err: errors.New("slot b holds an incompletely written firmware")}
	if out := f.exec("request system rollback"); !strings.Contains(out, "% request system rollback: slot b holds an incompletely") || len(f.signals) != 1 {
		t.Fatalf("failed rollback printed %q, signals %v", out, f.signals)
	}
	f.sh.env.Firmware = nil
	if out := f.exec("request system upgrade -"); !strings.Contains(out, "not available here") {
		t.Fatalf("no firmware: %q", out)
	}
}
