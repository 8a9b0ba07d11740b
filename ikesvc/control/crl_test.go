package control

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// crlService is a Service that fetches CRLs.
type crlService struct {
	fakeService
	st CRLFetch
}

func (s *crlService) CRLFetchStatus() CRLFetch { return s.st }

// serve runs Serve for svc on a fresh socket and returns a client.
func serve(t *testing.T, svc Service) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ikesvc.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, ln, svc, t.Logf) }()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return c
}

func TestCRLsCommand(t *testing.T) {
	at := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	full := CRL{URL: "http://crl.example.net/root.crl", Issuer: "CN=root", Number: "18446744073709551617",
		ThisUpdate: at.Add(-time.Hour), NextUpdate: at.Add(time.Hour), Revoked: 3, LastSuccess: at.Add(-time.Hour),
		LastError: "dial tcp 192.0.2.1:80: connect: connection refused", LastErrorAt: at, Failures: 2, NextFetch: at.Add(2 * time.Minute)}
	tests := []struct {
		name string
		svc  Service
		want CRLFetch
	}{
		{"service without CRL fetching", &fakeService{}, CRLFetch{Enabled: false, URLs: []CRL{}}},
		{"fetching off", &crlService{}, CRLFetch{Enabled: false, URLs: []CRL{}}},
		{"fetching on, nothing watched", &crlService{st: CRLFetch{Enabled: true}}, CRLFetch{Enabled: true, URLs: []CRL{}}},
		{"every field survives the socket", &crlService{st: CRLFetch{Enabled: true, URLs: []CRL{full, {URL: "http://b/ca.crl", Fetching: true}}}},
			CRLFetch{Enabled: true, URLs: []CRL{full, {URL: "http://b/ca.crl", Fetching: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serve(t, tt.svc).CRLs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CRLs() = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFormatCRLs(t *testing.T) {
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   CRLFetch
		want string
	}{
		{"off", CRLFetch{URLs: []CRL{{URL: "http://ignored/"}}},
			"CRL distribution points: CRL fetching is off (set ipsec crl-fetch on)\n"},
		{"on, none seen", CRLFetch{Enabled: true},
			"CRL distribution points: CRL fetching is on, no distribution point seen yet\n"},
		{"ok", CRLFetch{Enabled: true, URLs: []CRL{{URL: "http://crl.example.net/root.crl", Issuer: "C=CH, O=alixsec, CN=alixsec root CA",
			Number: "12", Revoked: 3, ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(57*time.Minute + 30*time.Second),
			LastSuccess: now.Add(-3 * time.Minute), NextFetch: now.Add(52 * time.Minute)}}},
			"CRL distribution points:\n" +
				"  OK       http://crl.example.net/root.crl\n" +
				"           CRL 12 (3 revoked) of C=CH, O=alixsec, CN=alixsec root CA\n" +
				"           fetched 3m ago, next fetch in 52m, next-update in 57m30s\n"},
		{"failing after success, CRL expired", CRLFetch{Enabled: true, URLs: []CRL{{URL: "http://10.99.0.9/inter.crl", Issuer: "CN=inter",
			Number: "11", NextUpdate: now.Add(-2 * time.Hour), LastSuccess: now.Add(-26*time.Hour - 10*time.Minute),
			LastError: "CRL server answered with an error status: 404 Not Found", LastErrorAt: now.Add(-42 * time.Second),
			Failures: 3, NextFetch: now.Add(4 * time.Minute)}}},
			"CRL distribution points:\n" +
				"  FAILING  http://10.99.0.9/inter.crl\n" +
				"           CRL 11 (0 revoked) of CN=inter\n" +
				"           fetched 1d2h ago, next fetch in 4m, CRL expired 2h ago\n" +
				"           3 failures, last 42s ago: CRL server answered with an error status: 404 Not Found\n"},
		{"failing verification, pending, due", CRLFetch{Enabled: true, URLs: []CRL{
			{URL: "http://a/bad.crl", LastError: `rejected: CRL of "CN=x": CRL signature does not verify`, LastErrorAt: now, Failures: 1, NextFetch: now.Add(time.Minute)},
			{URL: "http://b/new.crl", Fetching: true},
			{URL: "http://c/due.crl", LastSuccess: now.Add(-time.Hour), Number: "1", NextFetch: now.Add(-time.Second)},
		}},
			"CRL distribution points:\n" +
				"  FAILING  http://a/bad.crl\n" +
				"           no CRL yet, never fetched, next fetch in 1m\n" +
				"           1 failure, last just now: rejected: CRL of \"CN=x\": CRL signature does not verify\n" +
				"  PENDING  http://b/new.crl\n" +
				"           no CRL yet, never fetched, fetching now\n" +
				"  OK       http://c/due.crl\n" +
				"           CRL 1 (0 revoked)\n" +
				"           fetched 1h ago, next fetch due\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := FormatCRLs(&b, tt.st, now); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
			for _, line := range strings.Split(b.String(), "\n") {
				if len(line) > 80 && !strings.Contains(tt.name, "failing") {
					t.Errorf("line longer than 80 columns: %q", line)
				}
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {999 * time.Millisecond, "0s"}, {42 * time.Second, "42s"}, {3*time.Minute + 12*time.Second, "3m12s"},
		{time.Hour, "1h"}, {2*time.Hour + 10*time.Minute + 59*time.Second, "2h10m"}, {76 * time.Hour, "3d4h"}, {48 * time.Hour, "2d"},
	}
	for _, tt := range tests {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
