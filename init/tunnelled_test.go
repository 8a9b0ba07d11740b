package main

import (
	"testing"

	"alixsec.dev/ikesvc/control"
)

func TestAnyTunnelUp(t *testing.T) {
	child := []control.ChildSA{{Mode: "transport"}}
	tests := []struct {
		name string
		sas  []control.IKESA
		want bool
	}{
		{"none", nil, false},
		{"connecting", []control.IKESA{{State: "IKE_AUTH_SENT"}}, false},
		{"established without child", []control.IKESA{{State: "ESTABLISHED"}}, false},
		{"established with child", []control.IKESA{{State: "CONNECTING"}, {State: "ESTABLISHED", Children: child}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := anyTunnelUp(tt.sas); got != tt.want {
				t.Fatalf("anyTunnelUp = %v, want %v", got, tt.want)
			}
		})
	}
}
