package main

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/pkiwatch"
	"alixsec.dev/init/netconf"
	"alixsec.dev/init/svclog"
)

// configFollower applies the running configuration to what init owns
// (links, addresses, routes, host name, remote syslog) at boot and again
// after every commit.
type configFollower struct {
	logger *log.Logger
	socket string
	net    networkApplier
	logs   *logRing
	clock  *clockKeeper
	// setHostname is unix.Sethostname; tests replace it.
	setHostname func([]byte) error
	// retryFirst and retryMax pace re-applying a network config that
	// failed; zero means retryApplyFirst and retryApplyMax.
	retryFirst, retryMax time.Duration

	mu      sync.Mutex
	current *model.Config // newest applied revision
}

// networkApplier reconciles interfaces and routes (*netconf.Applier).
type networkApplier interface {
	Apply(netconf.Config) error
}

// run follows configsvc until ctx ends, reconnecting when it restarts.
func (f *configFollower) run(ctx context.Context) {
	go f.dailyExpiryCheck(ctx)
	var applied uint64
	// configsvc starts with init's follower and listens tens of
	// milliseconds later: short pauses first (every one at boot delays the
	// addresses, so the tunnel), doubling up to a second.
	const first, most = 50 * time.Millisecond, time.Second
	pause := first
	for ctx.Err() == nil {
		client, err := api.Dial(f.socket)
		if err != nil {
			sleepCtx(ctx, pause)
			pause = min(2*pause, most)
			continue
		}
		before := applied
		applied = f.follow(ctx, client, applied)
		client.Close()
		if applied != before {
			pause = first // it worked: the next outage starts short again
		}
		sleepCtx(ctx, pause)
		pause = min(2*pause, most)
	}
}

// follow applies the running revision and each new one; it returns the
// last applied revision when the connection breaks.
func (f *configFollower) follow(ctx context.Context, client *api.Client, applied uint64) uint64 {
	snap, err := client.Running(ctx)
	if err != nil {
		f.logger.Printf("config: read running revision: %v", err)
		return applied
	}
	for {
		if snap.Revision != applied {
			ok := f.apply(snap.Config)
			f.logger.Printf("config: applied revision %d", snap.Revision)
			applied = snap.Revision
			if !ok {
				next, err := f.retryNetwork(ctx, client, snap.Config, applied)
				if err != nil {
					return applied
				}
				if next != nil {
					snap = next
					continue
				}
			}
		}
		snap, err = client.WaitCommit(ctx, applied)
		if err != nil {
			if ctx.Err() == nil {
				f.logger.Printf("config: wait for commit: %v", err)
			}
			return applied
		}
	}
}

// retryNetwork applies cfg's network part again, after growing pauses,
// until it takes (nil, nil), a newer revision comes (returned), or the
// connection breaks (the error). What fails is a netlink error or an
// interface that is not there yet; the rest of cfg applied already.
func (f *configFollower) retryNetwork(ctx context.Context, client *api.Client, cfg *model.Config, applied uint64) (*api.Snapshot, error) {
	first, most := f.retryFirst, f.retryMax
	if first == 0 || most == 0 {
		first, most = retryApplyFirst, retryApplyMax
	}
	for pause := first; ; pause = min(2*pause, most) {
		next, err := f.waitCommitFor(ctx, client, applied, pause)
		if err != nil || next != nil {
			return next, err
		}
		if f.applyNetwork(cfg) {
			f.logger.Printf("config: revision %d now applied in full", applied)
			return nil, nil
		}
	}
}

// Retrying a revision that did not apply in full: after retryApplyFirst,
// then twice as long each time up to retryApplyMax.
const (
	retryApplyFirst = 2 * time.Second
	retryApplyMax   = time.Minute
)

// waitCommitFor waits at most d for a revision newer than applied: it
// returns that revision, or nil and no error when d passed first, or the
// error that broke the connection (logged).
func (f *configFollower) waitCommitFor(ctx context.Context, client *api.Client, applied uint64, d time.Duration) (*api.Snapshot, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	snap, err := client.WaitCommit(wctx, applied)
	switch {
	case err == nil:
		return snap, nil
	case wctx.Err() != nil && ctx.Err() == nil:
		return nil, nil
	default:
		if ctx.Err() == nil {
			f.logger.Printf("config: wait for commit: %v", err)
		}
		return nil, err
	}
}

// warnExpiring logs one line per certificate, CA or CRL that expires
// within 30 days; it runs at each applied revision and once a day.
func (f *configFollower) warnExpiring(cfg *model.Config) {
	for _, msg := range pkiwatch.Expiring(cfg, time.Now(), pkiwatch.WarnBefore) {
		f.logger.Printf("pki warning: %s", msg)
	}
}

// dailyExpiryCheck repeats warnExpiring on the newest applied config.
func (f *configFollower) dailyExpiryCheck(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
		f.mu.Lock()
		cfg := f.current
		f.mu.Unlock()
		if cfg != nil {
			f.warnExpiring(cfg)
		}
	}
}

// apply makes cfg the system's; it logs what failed and reports whether
// the network part, the one worth retrying, applied in full.
func (f *configFollower) apply(cfg *model.Config) (networkOK bool) {
	f.mu.Lock()
	f.current = cfg
	f.mu.Unlock()
	f.warnExpiring(cfg)
	set := f.setHostname
	if set == nil {
		set = unix.Sethostname
	}
	if h := cfg.System.EffectiveHostname(); h != "" {
		if err := set([]byte(h)); err != nil {
			f.logger.Printf("config: set hostname %q: %v", h, err)
		}
	}
	networkOK = f.applyNetwork(cfg)
	f.clock.setServers(cfg.System.NTPServers)
	f.logs.setForward(nil)
	if host := cfg.System.SyslogHost; host != "" {
		fwd, err := newSyslogForwarder(host, cfg.System.EffectiveHostname())
		if err != nil {
			f.logger.Printf("config: remote syslog: %v", err)
		} else {
			f.logs.setForward(fwd.send)
		}
	}
	return networkOK
}

// applyNetwork reconciles interfaces and routes with cfg and reports
// whether everything took.
func (f *configFollower) applyNetwork(cfg *model.Config) bool {
	if err := f.net.Apply(networkConfig(cfg)); err != nil {
		f.logger.Printf("config: network: %v", err)
		return false
	}
	return true
}

// networkConfig extracts what netconf applies from the whole config.
func networkConfig(cfg *model.Config) netconf.Config {
	var nc netconf.Config
	for _, name := range sortedKeys(cfg.Interfaces) {
		ifc := cfg.Interfaces[name]
		nc.Interfaces = append(nc.Interfaces, netconf.Interface{Name: name, Addresses: ifc.Addresses, MTU: ifc.MTU})
	}
	for _, dst := range sortedKeys(cfg.Routes) {
		r := cfg.Routes[dst]
		prefix, err := parsePrefix(dst)
		if err != nil {
			continue // validated by configsvc; unreachable
		}
		nc.Routes = append(nc.Routes, netconf.Route{Dst: prefix, Gateway: r.NextHop, Interface: r.Interface, Metric: r.Metric})
	}
	return nc
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// configsvcService returns the configsvc service keeping its database in
// db on the config partition.
func configsvcService(db, boardName string) *service {
	args := []string{"/bbin/configsvc", "-db", db, "-socket", api.DefaultSocket, "-default-board", boardName,
		// Written by `make image PRESEED=HOST.tar`; used on first boot only.
		"-preseed", filepath.Join(filepath.Dir(db), "preseed.set")}
	return &service{name: "configsvc", argv: args, env: serviceEnv()}
}

func serviceEnv() []string {
	return []string{"PATH=/bbin:/bin", "HOME=/", "TZ=UTC",
		// The busybox is built outside module mode with Go 1.20's GODEBUG
		// defaults; ask for today's behaviour explicitly.
		// gcshrinkstackoff: configsvc once died with "missing stackmap"
		// while a stack shrink walked net/rpc's reflective call on 386
		// (runtime callRet there lacks NO_LOCAL_POINTERS). configsvc no
		// longer calls through reflection (configsvc/gobrpc); not
		// shrinking stacks stays as a cheap second guard.
		"GODEBUG=asynctimerchan=0,panicnil=0,gcshrinkstackoff=1",
		// init's RAM ring stamps time and name on each line.
		svclog.Env()}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
