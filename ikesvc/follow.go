package main

import (
	"context"
	"fmt"
	"time"

	"alixsec.dev/configsvc/api"
)

// Pauses before reconnecting to configsvc: short at first, because at
// boot init starts both at once and configsvc listens a few tens of
// milliseconds later (a fixed 2 s pause cost every reboot 2 s of tunnel), then
// doubling up to followRedial.
const (
	followRedialFirst = 50 * time.Millisecond
	followRedial      = 2 * time.Second
)

// follow applies configsvc's running revision and every later commit until
// ctx ends, reconnecting when configsvc restarts.
func follow(ctx context.Context, socket string, d *daemon) {
	var applied uint64
	pause := followRedialFirst
	for ctx.Err() == nil {
		c, err := api.Dial(socket)
		if err != nil {
			// One line per outage, not one per try.
			if pause == followRedialFirst {
				d.logf("%v; retrying", err)
			}
			sleep(ctx, pause)
			pause = min(2*pause, followRedial)
			continue
		}
		snap, err := c.Running(ctx)
		if err == nil {
			pause = followRedialFirst // a working connection: the next outage starts short again
		}
		for err == nil {
			if snap.Revision != applied {
				if aerr := d.apply(snap.Config, fmt.Sprintf("configsvc revision %d", snap.Revision)); aerr != nil {
					d.logf("%v", aerr)
				}
				applied = snap.Revision
			}
			snap, err = c.WaitCommit(ctx, applied)
		}
		c.Close()
		if ctx.Err() == nil {
			d.logf("following configsvc at %s: %v; reconnecting", socket, err)
			sleep(ctx, pause)
			pause = min(2*pause, followRedial)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
