package main

import (
	"net/netip"
	"testing"
	"time"

	"alixsec.dev/configsvc/settext"
	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
)

// TestPeerFromDefaults: what ikesvc runs for unset leaves is what the
// model documents (an unset start-action traps, DPD runs every 30 s), and
// set leaves arrive unchanged.
func TestPeerFromDefaults(t *testing.T) {
	tests := []struct {
		name  string
		lines string
		check func(t *testing.T, pc ike.PeerConfig)
	}{
		{"unset start-action traps", "", func(t *testing.T, pc ike.PeerConfig) {
			if pc.StartAction != ike.StartTrap {
				t.Errorf("StartAction %v, want trap", pc.StartAction)
			}
			if pc.Mode != kernel.ModeTunnel {
				t.Errorf("Mode %v, want tunnel", pc.Mode)
			}
			if pc.DPDInterval != 30*time.Second || pc.RekeyTime != time.Hour || pc.IKERekeyTime != 4*time.Hour || pc.ReauthTime != 0 {
				t.Errorf("DPDInterval %v RekeyTime %v IKERekeyTime %v ReauthTime %v, want 30s 1h 4h 0", pc.DPDInterval, pc.RekeyTime, pc.IKERekeyTime, pc.ReauthTime)
			}
			if pc.DPDAction != ike.DPDTrap {
				t.Errorf("DPDAction %v, want trap (follows start-action trap)", pc.DPDAction)
			}
			if len(pc.IKE) != 1 || pc.IKE[0].String() != "aes128-sha256-prfsha256-modp2048" || len(pc.ESP) != 1 || pc.ESP[0].String() != "aes128-sha256-modp2048-noesn" {
				t.Errorf("proposals %v %v, want the defaults", pc.IKE, pc.ESP)
			}
		}},
		{"explicit values", "set ipsec peer p start-action none\nset ipsec peer p mode transport\nset ipsec peer p dpd-interval 10\nset ipsec peer p rekey-time 600\nset ipsec esp-proposal aes128gcm16-ecp256\n",
			func(t *testing.T, pc ike.PeerConfig) {
				if pc.StartAction != ike.StartNone || pc.Mode != kernel.ModeTransport || pc.DPDInterval != 10*time.Second || pc.RekeyTime != 10*time.Minute {
					t.Errorf("got %v %v %v %v, want none transport 10s 10m", pc.StartAction, pc.Mode, pc.DPDInterval, pc.RekeyTime)
				}
				if len(pc.ESP) != 1 || pc.ESP[0].String() != "aes128gcm16-ecp256-noesn" {
					t.Errorf("ESP %v, want the global one", pc.ESP)
				}
			}},
		{"start-action start restarts after DPD", "set ipsec peer p start-action start\n", func(t *testing.T, pc ike.PeerConfig) {
			if pc.StartAction != ike.StartStart || pc.DPDAction != ike.DPDRestart {
				t.Errorf("StartAction %v DPDAction %v, want start restart", pc.StartAction, pc.DPDAction)
			}
		}},
		{"IKE lifetimes: global, then the peer's", "set ipsec ike-rekey-time 7200\nset ipsec reauth-time 86400\nset ipsec peer p ike-rekey-time 1800\nset ipsec peer p dpd-action clear\n",
			func(t *testing.T, pc ike.PeerConfig) {
				if pc.IKERekeyTime != 30*time.Minute || pc.ReauthTime != 24*time.Hour || pc.DPDAction != ike.DPDClear {
					t.Errorf("IKERekeyTime %v ReauthTime %v DPDAction %v, want 30m 24h clear", pc.IKERekeyTime, pc.ReauthTime, pc.DPDAction)
				}
			}},
		{"peer turns reauth off", "set ipsec reauth-time 86400\nset ipsec peer p reauth-time 0\n", func(t *testing.T, pc ike.PeerConfig) {
			if pc.ReauthTime != 0 {
				t.Errorf("ReauthTime %v, want 0 (off)", pc.ReauthTime)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := settext.ParseString("set ipsec peer p address 192.0.2.2\nset ipsec peer p remote-id gw2.example.net\nset ipsec peer p local-ts 10.1.0.0/24\nset ipsec peer p remote-ts 10.2.0.0/24\n" + tt.lines)
			if err != nil {
				t.Fatal(err)
			}
			pc, err := peerFrom("p", c.IPsec.Peers["p"], &c.IPsec)
			if err != nil {
				t.Fatal(err)
			}
			if pc.Remote != netip.MustParseAddr("192.0.2.2") {
				t.Errorf("Remote %v", pc.Remote)
			}
			tt.check(t, pc)
		})
	}
}
