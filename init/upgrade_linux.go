package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/firmware/ab"
	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/ike"
)

// defaultHealthTimeout is how long a firmware on trial has to come up
// healthy when the config does not say (system update health-timeout).
const defaultHealthTimeout = 300 * time.Second

// checkFirmwareAtBoot tells the A/B state which slot booted: on the old
// slot it records a failed trial; on a trial it returns the trial, which
// the caller watches with a trialCheck. It writes to the card only when an
// upgrade is pending.
func checkFirmwareAtBoot(logger, warn *log.Logger) *ab.Trial {
	m, closeFn, err := ab.OnBoard(ab.DefaultStatePath)
	if err != nil {
		logger.Printf("firmware: %v", err)
		return nil
	}
	defer closeFn()
	before, _ := m.Load()
	trial, err := m.AtBoot()
	if err != nil {
		warn.Printf("firmware: %v", err)
		return nil
	}
	if trial != nil {
		warn.Printf("firmware: slot %s (%s) on trial: it becomes the boot default once healthy", m.Slot, m.Version)
		return trial
	}
	after, _ := m.Load()
	if a := after.Attempt; a != nil && a.Phase == ab.PhaseFailed && (before.Attempt == nil || before.Attempt.Phase != ab.PhaseFailed) {
		warn.Printf("firmware: %s failed: %s", a.Kind, a.Reason)
	}
	return nil
}

// trialCheck watches a firmware on trial: healthy (config applied,
// configsvc and ikesvc running, the health peer's tunnel up if one is
// configured) makes it the boot default; still unhealthy at the deadline
// gives it up and reboots into the old slot.
type trialCheck struct {
	logger, warn *log.Logger
	services     []*service
	follower     *configFollower
	ikeSocket    string
	reboot       func()
	interval     time.Duration
}

func (c *trialCheck) run(ctx context.Context) {
	start := time.Now()
	for ctx.Err() == nil {
		cfg := c.follower.appliedConfig()
		timeout := defaultHealthTimeout
		if cfg != nil && cfg.System.Update.HealthTimeout > 0 {
			timeout = time.Duration(cfg.System.Update.HealthTimeout) * time.Second
		}
		problem := c.problem(ctx, cfg)
		if problem == "" {
			c.finish(func(m *ab.Manager) error { return m.MarkGood() })
			c.warn.Printf("firmware: healthy after %s: this slot is now the boot default", time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > timeout {
			reason := fmt.Sprintf("%s after %s", problem, timeout)
			c.finish(func(m *ab.Manager) error { return m.MarkFailed(reason) })
			c.warn.Printf("firmware: not healthy: %s; rebooting into the previous slot", reason)
			c.reboot()
			return
		}
		sleepCtx(ctx, c.interval)
	}
}

func (c *trialCheck) finish(step func(*ab.Manager) error) {
	m, closeFn, err := ab.OnBoard(ab.DefaultStatePath)
	if err != nil {
		c.warn.Printf("firmware: %v", err)
		return
	}
	defer closeFn()
	if err := step(m); err != nil {
		c.warn.Printf("firmware: %v", err)
	}
}

// problem says what is not healthy yet, or "".
func (c *trialCheck) problem(ctx context.Context, cfg *model.Config) string {
	if cfg == nil {
		return "the configuration was not applied"
	}
	for _, svc := range c.services {
		if !svc.running() {
			return svc.name + " is not running"
		}
	}
	peer := cfg.System.Update.HealthPeer
	if peer == "" {
		return ""
	}
	cl, err := control.Dial(c.ikeSocket)
	if err != nil {
		return "ikesvc's control socket: " + err.Error()
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sas, err := cl.Show(ctx)
	if err != nil {
		return "ikesvc show: " + err.Error()
	}
	for _, sa := range sas {
		// ike.State's String ("established"); show ipsec sa prints it
		// upper case, swanctl style.
		if sa.Peer == peer && sa.State == ike.StateEstablished.String() && len(sa.Children) > 0 {
			return ""
		}
	}
	return fmt.Sprintf("the tunnel with peer %s is not up", peer)
}

// appliedConfig is the newest configuration the follower applied, or nil.
func (f *configFollower) appliedConfig() *model.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}
