package shell

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/crlfetch"
)

// fakeCRLIKE is ikesvc with CRL fetching behind a real control socket.
type fakeCRLIKE struct {
	fakeIKE
	st control.CRLFetch
}

func (f *fakeCRLIKE) CRLFetchStatus() control.CRLFetch { return f.st }

// serveControl runs control.Serve for svc on the fixture's ikesvc socket.
func serveControl(t *testing.T, f *fixture, svc control.Service) {
	t.Helper()
	ln, err := control.Listen(f.env.IKESocket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- control.Serve(ctx, ln, svc, t.Logf) }()
	t.Cleanup(func() { cancel(); <-done })
}

// serveRaw answers each request line on the fixture's ikesvc socket with
// reply, like an ikesvc from before the crls command.
func serveRaw(t *testing.T, f *fixture, reply string) {
	t.Helper()
	ln, err := net.Listen("unix", f.env.IKESocket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					conn.Write([]byte(reply + "\n"))
				}
			}()
		}
	}()
}

func TestShowPKICRLDistributionPoints(t *testing.T) {
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	watched := control.CRLFetch{Enabled: true, URLs: []crlfetch.Status{
		{URL: "http://10.99.0.9/inter.crl", Issuer: "CN=alixsec intermediate CA", Number: "11", Revoked: 2,
			NextUpdate: now.Add(3 * time.Hour), LastSuccess: now.Add(-2*time.Hour - 10*time.Minute),
			LastError: "dial tcp 10.99.0.9:80: connect: connection refused", LastErrorAt: now.Add(-time.Minute),
			Failures: 3, NextFetch: now.Add(4 * time.Minute)},
		{URL: "http://crl.example.net/root.crl", Issuer: "CN=alixsec root CA", Number: "12",
			NextUpdate: now.Add(57 * time.Minute), LastSuccess: now.Add(-3 * time.Minute), NextFetch: now.Add(52 * time.Minute)},
	}}
	tests := []struct {
		name  string
		start func(t *testing.T, f *fixture) // nil: no ikesvc
		want  string                         // the section, exactly
	}{
		{"ikesvc not running", nil, "CRL distribution points: ikesvc is not running\n"},
		{"fetching off", func(t *testing.T, f *fixture) { serveControl(t, f, &fakeCRLIKE{}) },
			"CRL distribution points: CRL fetching is off (set ipsec crl-fetch on)\n"},
		{"ikesvc without CRL fetching", func(t *testing.T, f *fixture) { serveControl(t, f, &fakeIKE{}) },
			"CRL distribution points: CRL fetching is off (set ipsec crl-fetch on)\n"},
		{"ikesvc from before the crls command", func(t *testing.T, f *fixture) {
			serveRaw(t, f, `{"error":"unknown command \"crls\" (want show, initiate or terminate)"}`)
		}, "CRL distribution points: cannot ask ikesvc: unknown command \"crls\" (want show, initiate or terminate)\n"},
		{"one failing, one OK", func(t *testing.T, f *fixture) { serveControl(t, f, &fakeCRLIKE{st: watched}) },
			"CRL distribution points:\n" +
				"  FAILING  http://10.99.0.9/inter.crl\n" +
				"           CRL 11 (2 revoked) of CN=alixsec intermediate CA\n" +
				"           fetched 2h10m ago, next fetch in 4m, next-update in 3h\n" +
				"           3 failures, last 1m ago: dial tcp 10.99.0.9:80: connect: connection refused\n" +
				"  OK       http://crl.example.net/root.crl\n" +
				"           CRL 12 (0 revoked) of CN=alixsec root CA\n" +
				"           fetched 3m ago, next fetch in 52m, next-update in 57m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.sh.env.Now = func() time.Time { return now }
			if tt.start != nil {
				tt.start(t, f)
			}
			out := f.exec("show pki")
			// The section follows the config's tables, whole.
			i := strings.Index(out, "CRLs:\n")
			j := strings.Index(out, tt.want)
			if i < 0 || j < i {
				t.Fatalf("show pki lacks the CRLs table or, after it, the section\n%s\n----- got:\n%s", tt.want, out)
			}
			if strings.HasPrefix(out, "% ") || !strings.HasPrefix(out, "Keys:\n") {
				t.Errorf("show pki did not print its tables:\n%s", out)
			}
			if n := strings.Count(out, "CRL distribution points"); n != 1 {
				t.Errorf("section printed %d times:\n%s", n, out)
			}
			if rest := out[j+len(tt.want):]; rest != "" && !strings.HasPrefix(rest, "warning: ") {
				t.Errorf("after the section, want only warnings, got %q", rest)
			}
		})
	}
}
