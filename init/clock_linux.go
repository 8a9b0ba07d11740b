package main

import (
	"context"
	"log"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"alixsec.dev/init/sntp"
)

// clockKeeper sets the system clock from the configured NTP servers at
// each config change and then every interval. It steps the clock: the
// boards have no battery-backed time worth keeping and certificate checks
// need the right date at once.
type clockKeeper struct {
	logger   *log.Logger
	interval time.Duration

	mu      sync.Mutex
	servers []string
	kick    chan struct{}
}

func newClockKeeper(logger *log.Logger) *clockKeeper {
	return &clockKeeper{logger: logger, interval: 15 * time.Minute, kick: make(chan struct{}, 1)}
}

// setServers replaces the server list and syncs soon.
func (c *clockKeeper) setServers(servers []string) {
	c.mu.Lock()
	c.servers = append([]string(nil), servers...)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *clockKeeper) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-time.After(c.interval):
		}
		c.syncOnce(ctx)
	}
}

func (c *clockKeeper) syncOnce(ctx context.Context) {
	c.mu.Lock()
	servers := c.servers
	c.mu.Unlock()
	for _, s := range servers {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := sntp.Query(qctx, s, time.Now)
		cancel()
		if err != nil {
			c.logger.Printf("ntp: %v", err)
			continue
		}
		if res.Offset.Abs() < 100*time.Millisecond {
			return
		}
		tv := unix.NsecToTimeval(time.Now().Add(res.Offset).UnixNano())
		if err := unix.Settimeofday(&tv); err != nil {
			c.logger.Printf("ntp: set clock: %v", err)
			return
		}
		c.logger.Printf("ntp: clock stepped by %v from %s (stratum %d)", res.Offset.Round(time.Millisecond), s, res.Stratum)
		return
	}
}
