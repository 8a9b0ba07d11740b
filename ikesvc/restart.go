package main

import (
	"context"
	"errors"
	"os"

	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/kernel"
)

// Restart without loss, the daemon's part: the engine's state goes to a
// file in RAM after every change (ike.Config.SaveState), SIGTERM detaches
// the engine (kernel entries stay, peers are told nothing), and the
// engine of the next start restores the file before its first peers.

// saveState is the engine's SaveState hook; it runs under the engine's
// lock, and a write to tmpfs is quick.
func (d *daemon) saveState(data []byte) {
	err := d.state.Save(data)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg != d.stateErr {
		d.stateErr = msg
		if err != nil {
			d.logf("ikesvc: %v; a restart now loses the SAs", err)
		} else {
			d.logf("ikesvc: state file %s written again", d.state.Path())
		}
	}
}

// restore hands the saved state to a new engine; what cannot be used is
// logged in one line.
func (d *daemon) restore(e *ike.Engine) {
	if d.state == nil {
		return
	}
	data, err := d.state.Load()
	switch {
	case errors.Is(err, os.ErrNotExist):
		d.verbosef("ikesvc: no saved state in %s: a cold start", d.state.Path())
		data, err = nil, nil
	case err != nil:
		d.logf("ikesvc: saved state discarded: %v", err)
		data = nil
	}
	if rerr := e.Restore(data); rerr != nil {
		d.logf("ikesvc: saved state %s discarded: %v", d.state.Path(), rerr)
	}
}

// noPeersAtStart follows a first configuration without peers: what a
// previous run left in the kernel and the state file no longer apply.
func (d *daemon) noPeersAtStart() {
	if d.state == nil || d.cleared {
		return
	}
	d.cleared = true
	if _, err := d.kern.Apply(context.Background(), kernel.Set{}); err != nil {
		d.logf("ikesvc: removing the SAs of the previous run: %v", err)
	}
	if err := d.state.Remove(); err != nil {
		d.logf("ikesvc: %v", err)
	}
}
