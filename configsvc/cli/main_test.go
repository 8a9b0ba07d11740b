package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/internal/testserver"
)

func TestRunOverPipe(t *testing.T) {
	srv := testserver.Start(t, "qemu")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.WriteString("show configuration system hostname\nconfigure\nset system hostname pipetest\ncommit via pipe\nexit\nexit\nshow version\n")
		w.Close()
	}()
	var out bytes.Buffer
	if err := run(r, &out, []string{"-socket", srv.Socket}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"alixsec> # running revision 1", "set system hostname alixsec\nalixsec> ", "alixsec# committed revision 2\npipetest# pipetest> "} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "alixsec dev") {
		t.Errorf("commands after exit ran:\n%s", got)
	}
}

func TestDialWithRetryGivesUp(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	_, err := dialWithRetry(func() (*api.Client, error) { return api.Dial("/nonexistent/x.sock") }, 600*time.Millisecond, &out)
	if !api.IsCode(err, api.CodeUnavailable) || time.Since(start) < 600*time.Millisecond {
		t.Errorf("dialWithRetry = %v after %v", err, time.Since(start))
	}
	if !strings.HasPrefix(out.String(), "waiting for configsvc: configsvc is not reachable at /nonexistent/x.sock") {
		t.Errorf("printed %q", out.String())
	}
}
