package main

import (
	"context"
	"io"
	"log"
	"path/filepath"
	"strings"
	"testing"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/ike"
)

type fakeIKE struct{ sas []ike.IKESAStatus }

func (f fakeIKE) Status(context.Context) []ike.IKESAStatus { return f.sas }
func (fakeIKE) Initiate(string) error                      { return nil }
func (fakeIKE) Terminate(string) error                     { return nil }

// TestTrialProblem: what keeps a firmware on trial from being marked good.
func TestTrialProblem(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ike.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// States as ikesvc's status reports them (ike.State.String, lower
	// case): an init that compared with show ipsec sa's upper-case form
	// never saw the health peer up.
	up := []ike.IKESAStatus{
		{Peer: "other", State: ike.StateEstablished.String(), Children: []ike.ChildSAStatus{{}}},
		{Peer: "gw2", State: ike.StateEstablished.String(), Children: []ike.ChildSAStatus{{}}},
		{Peer: "gw4", State: ike.StateAuthSent.String(), Children: []ike.ChildSAStatus{{}}},
	}
	go control.Serve(ctx, ln, fakeIKE{sas: up}, func(string, ...any) {})

	withPeer := func(peer string) *model.Config {
		c := &model.Config{}
		c.System.Update.HealthPeer = peer
		return c
	}
	running := &service{name: "configsvc", state: "running"}
	backoff := &service{name: "ikesvc", state: "backoff"}
	tests := []struct {
		name     string
		cfg      *model.Config
		services []*service
		socket   string
		want     string // substring; "" means healthy
	}{
		{"no config yet", nil, []*service{running}, sock, "configuration was not applied"},
		{"service down", withPeer(""), []*service{running, backoff}, sock, "ikesvc is not running"},
		{"healthy without a health peer", withPeer(""), []*service{running}, sock, ""},
		{"health peer up", withPeer("gw2"), []*service{running}, sock, ""},
		{"health peer down", withPeer("gw3"), []*service{running}, sock, "tunnel with peer gw3 is not up"},
		{"health peer still in IKE_AUTH", withPeer("gw4"), []*service{running}, sock, "tunnel with peer gw4 is not up"},
		{"ikesvc unreachable", withPeer("gw2"), []*service{running}, filepath.Join(t.TempDir(), "none.sock"), "control socket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &configFollower{current: tc.cfg}
			c := &trialCheck{logger: log.New(io.Discard, "", 0), services: tc.services, follower: f, ikeSocket: tc.socket}
			got := c.problem(ctx, f.appliedConfig())
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("problem = %q, want %q", got, tc.want)
			}
		})
	}
}
