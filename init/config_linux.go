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
)

// configFollower applies the running configuration to what init owns
// (links, addresses, routes, host name, remote syslog) at boot and again
// after every commit.
type configFollower struct {
	logger *log.Logger
	socket string
	net    *netconf.Applier
	logs   *logRing
	clock  *clockKeeper

	mu      sync.Mutex
	current *model.Config // newest applied revision
}

// run follows configsvc until ctx ends, reconnecting when it restarts.
func (f *configFollower) run(ctx context.Context) {
	go f.dailyExpiryCheck(ctx)
	var applied uint64
	for ctx.Err() == nil {
		client, err := api.Dial(f.socket)
		if err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		applied = f.follow(ctx, client, applied)
		client.Close()
		sleepCtx(ctx, time.Second)
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
			f.apply(snap.Config)
			f.logger.Printf("config: applied revision %d", snap.Revision)
			applied = snap.Revision
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

func (f *configFollower) apply(cfg *model.Config) {
	f.mu.Lock()
	f.current = cfg
	f.mu.Unlock()
	f.warnExpiring(cfg)
	if h := cfg.System.Hostname; h != "" {
		if err := unix.Sethostname([]byte(h)); err != nil {
			f.logger.Printf("config: set hostname %q: %v", h, err)
		}
	}
	if err := f.net.Apply(networkConfig(cfg)); err != nil {
		f.logger.Printf("config: network: %v", err)
	}
	f.clock.setServers(cfg.System.NTPServers)
	f.logs.setForward(nil)
	if host := cfg.System.SyslogHost; host != "" {
		fwd, err := newSyslogForwarder(host, cfg.System.Hostname)
		if err != nil {
			f.logger.Printf("config: remote syslog: %v", err)
		} else {
			f.logs.setForward(fwd.send)
		}
	}
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
		"GODEBUG=asynctimerchan=0,panicnil=0,gcshrinkstackoff=1"}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
