package control

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"alixsec.dev/ikesvc/ike"
)

type fakeService struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeService) Status(context.Context) []ike.IKESAStatus {
	return []ike.IKESAStatus{{Peer: "gw2", State: "established", Initiator: true, SPIi: "0102030405060708", SPIr: "1112131415161718",
		Children: []ike.ChildSAStatus{{Mode: "transport", InSPI: "c0000001", OutSPI: "c0000002", InBytes: 42, RekeyIn: time.Minute}}}}
}

func (f *fakeService) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeService) Initiate(p string) error {
	f.record("initiate " + p)
	if p != "gw2" {
		return errors.New("initiate " + p + ": unknown peer")
	}
	return nil
}

func (f *fakeService) Terminate(p string) error { f.record("terminate " + p); return nil }

func (f *fakeService) Rekey(p string, kind ike.RekeyKind) error {
	f.record("rekey " + p + " " + string(kind))
	return nil
}

// plainService implements Service but not RekeyService.
type plainService struct{}

func (plainService) Status(context.Context) []ike.IKESAStatus { return nil }
func (plainService) Initiate(string) error                    { return nil }
func (plainService) Terminate(string) error                   { return nil }

func TestClientServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ikesvc.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := &fakeService{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, ln, svc, t.Logf) }()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{"show", func() error {
			sas, err := c.Show(ctx)
			if err == nil && (len(sas) != 1 || sas[0].Children[0].InBytes != 42 || sas[0].Children[0].RekeyIn != time.Minute) {
				t.Errorf("show returned %+v", sas)
			}
			return err
		}, ""},
		{"initiate", func() error { return c.Initiate(ctx, "gw2") }, ""},
		{"initiate unknown", func() error { return c.Initiate(ctx, "nope") }, "unknown peer"},
		{"terminate", func() error { return c.Terminate(ctx, "gw2") }, ""},
		{"rekey", func() error { return c.Rekey(ctx, "gw2", "ike") }, ""},
		{"unknown command", func() error { _, err := c.call(ctx, Request{Cmd: "reboot"}); return err }, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if got := strings.Join(svc.calls, ","); got != "initiate gw2,initiate nope,terminate gw2,rekey gw2 ike" {
		t.Errorf("service saw %q", got)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// A second Listen replaces the stale socket file.
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("relisten: %v", err)
	}
	ln2.Close()
}

func TestRekeyUnsupported(t *testing.T) {
	resp := handle(context.Background(), plainService{}, Request{Cmd: CmdRekey, Peer: "gw2", Kind: "child"})
	if !strings.Contains(resp.Error, "not supported") {
		t.Errorf("rekey on a service without Rekey: %+v", resp)
	}
}

func TestFormat(t *testing.T) {
	var b bytes.Buffer
	if err := Format(&b, (&fakeService{}).Status(context.Background()), time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gw2: IKE SA ESTABLISHED, initiator", "in  c0000001  42 bytes", "rekey in 1m0s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	Format(&b, nil, time.Now())
	if b.String() != "no IKE SAs\n" {
		t.Errorf("empty output %q", b.String())
	}
}
