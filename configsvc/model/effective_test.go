package model

import (
	"reflect"
	"testing"
	"time"
)

// TestPeerSettingsDefaults: every unset leaf resolves to its documented
// default, a global value beats the default and a peer's own value beats
// both.
func TestPeerSettingsDefaults(t *testing.T) {
	tests := []struct {
		name  string
		lines [][]string
		want  PeerSettings
	}{
		{"nothing set", nil, PeerSettings{
			Mode: ModeTunnel, StartAction: StartTrap, DPDInterval: 30 * time.Second, RekeyTime: time.Hour,
			IKERekeyTime: 4 * time.Hour, DPDAction: DPDTrap,
			IKEProposals: []string{"aes128-sha256-modp2048"}, ESPProposals: []string{"aes128-sha256-modp2048"},
		}},
		{"global proposals", [][]string{
			{"ipsec", "ike-proposal", "aes256gcm16-prfsha256-ecp256"},
			{"ipsec", "esp-proposal", "aes128gcm16-ecp256"},
			{"ipsec", "ike-rekey-time", "7200"},
			{"ipsec", "reauth-time", "86400"},
		}, PeerSettings{
			Mode: ModeTunnel, StartAction: StartTrap, DPDInterval: 30 * time.Second, RekeyTime: time.Hour,
			IKERekeyTime: 2 * time.Hour, ReauthTime: 24 * time.Hour, DPDAction: DPDTrap,
			IKEProposals: []string{"aes256gcm16-prfsha256-ecp256"}, ESPProposals: []string{"aes128gcm16-ecp256"},
		}},
		{"peer values win", [][]string{
			{"ipsec", "ike-proposal", "aes256gcm16-prfsha256-ecp256"},
			{"ipsec", "peer", "p", "ike-proposal", "aes128-sha256-x25519"},
			{"ipsec", "peer", "p", "mode", "transport"},
			{"ipsec", "peer", "p", "start-action", "none"},
			{"ipsec", "peer", "p", "dpd-interval", "10"},
			{"ipsec", "peer", "p", "rekey-time", "600"},
			{"ipsec", "ike-rekey-time", "7200"},
			{"ipsec", "reauth-time", "86400"},
			{"ipsec", "peer", "p", "ike-rekey-time", "1800"},
			{"ipsec", "peer", "p", "reauth-time", "0"},
		}, PeerSettings{
			Mode: ModeTransport, StartAction: StartNone, DPDInterval: 10 * time.Second, RekeyTime: 10 * time.Minute,
			IKERekeyTime: 30 * time.Minute, DPDAction: DPDClear,
			IKEProposals: []string{"aes128-sha256-x25519"}, ESPProposals: []string{"aes128-sha256-modp2048"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{}
			if err := c.Set([]string{"ipsec", "peer", "p", "address", "192.0.2.2"}); err != nil {
				t.Fatal(err)
			}
			for _, l := range tt.lines {
				if err := c.Set(l); err != nil {
					t.Fatal(err)
				}
			}
			got := c.IPsec.PeerSettings(c.IPsec.Peers["p"])
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PeerSettings\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestPeerSettingsDoesNotAlias: changing the resolved proposals must not
// change the configuration they came from.
func TestPeerSettingsDoesNotAlias(t *testing.T) {
	ip := &IPsec{IKEProposals: []string{"aes128-sha256-x25519"}}
	s := ip.PeerSettings(&Peer{})
	s.IKEProposals[0] = "changed"
	if ip.IKEProposals[0] != "aes128-sha256-x25519" {
		t.Errorf("config changed through PeerSettings: %v", ip.IKEProposals)
	}
}

// TestDPDActionFollowsStartAction: an unset dpd-action keeps the peer as
// its start action has it; a set one wins.
func TestDPDActionFollowsStartAction(t *testing.T) {
	tests := []struct {
		start StartAction
		dpd   DPDAction
		want  DPDAction
	}{
		{StartStart, "", DPDRestart},
		{StartTrap, "", DPDTrap},
		{"", "", DPDTrap},
		{StartNone, "", DPDClear},
		{StartStart, DPDClear, DPDClear},
		{StartNone, DPDTrap, DPDTrap},
	}
	for _, tt := range tests {
		got := (&IPsec{}).PeerSettings(&Peer{StartAction: tt.start, DPDAction: tt.dpd}).DPDAction
		if got != tt.want {
			t.Errorf("start-action %q dpd-action %q: %s, want %s", tt.start, tt.dpd, got, tt.want)
		}
	}
}

func TestEffectiveScalars(t *testing.T) {
	if got := (&IPsec{}).EffectiveCRLMode(); got != CRLRelaxed {
		t.Errorf("unset crl-mode: %s, want relaxed", got)
	}
	if got := (&IPsec{CRLMode: CRLStrict}).EffectiveCRLMode(); got != CRLStrict {
		t.Errorf("crl-mode strict: %s", got)
	}
	if got := (&System{}).EffectiveHostname(); got != "alixsec" {
		t.Errorf("unset hostname: %s, want alixsec", got)
	}
	if got := (&System{Hostname: "gw1"}).EffectiveHostname(); got != "gw1" {
		t.Errorf("hostname gw1: %s", got)
	}
}
