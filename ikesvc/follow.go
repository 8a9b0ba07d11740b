package main

import (
	"context"
	"fmt"
	"time"

	"alixsec.dev/configsvc/api"
)

// followRedial is the pause before reconnecting to a lost configsvc.
const followRedial = 2 * time.Second

// follow applies configsvc's running revision and every later commit until
// ctx ends, reconnecting when configsvc restarts.
func follow(ctx context.Context, socket string, d *daemon) {
	var applied uint64
	for ctx.Err() == nil {
		c, err := api.Dial(socket)
		if err != nil {
			d.logf("%v; retrying in %v", err, followRedial)
			sleep(ctx, followRedial)
			continue
		}
		snap, err := c.Running(ctx)
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
			d.logf("following configsvc at %s: %v; reconnecting in %v", socket, err, followRedial)
			sleep(ctx, followRedial)
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
