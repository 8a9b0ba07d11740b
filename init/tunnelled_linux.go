package main

import (
	"context"
	"log"
	"time"

	"alixsec.dev/ikesvc/control"
)

// tunnelLED lights the board's tunnel LED while at least one IKE SA with
// a CHILD_SA is established, asking ikesvc's control socket every interval.
type tunnelLED struct {
	logger   *log.Logger
	led      string
	socket   string
	interval time.Duration
}

func (t *tunnelLED) run(ctx context.Context) {
	if t.led == "" {
		return
	}
	lit := false
	for {
		on := t.tunnelUp(ctx)
		if on != lit {
			if err := setLED(t.led, on); err != nil {
				t.logger.Printf("%v", err)
			}
			lit = on
		}
		select {
		case <-ctx.Done():
			setLED(t.led, false)
			return
		case <-time.After(t.interval):
		}
	}
}

func (t *tunnelLED) tunnelUp(ctx context.Context) bool {
	c, err := control.Dial(t.socket)
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sas, err := c.Show(ctx)
	if err != nil {
		return false
	}
	return anyTunnelUp(sas)
}

// anyTunnelUp reports whether an IKE SA is established with at least one
// CHILD_SA (traffic can flow).
func anyTunnelUp(sas []control.IKESA) bool {
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" && len(sa.Children) > 0 {
			return true
		}
	}
	return false
}
