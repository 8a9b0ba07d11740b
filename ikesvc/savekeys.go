package main

import (
	"context"
	"time"

	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/ike"
	"alixsec.dev/ikesvc/savekeys"
)

// defaultKeysDir is where `request ipsec save-keys` (the control socket's
// save-keys) writes when ikesvc runs without -save-keys: RAM on the board
// (/tmp is a tmpfs), never the CF card.
const defaultKeysDir = "/tmp/ikesvc-keys"

// keysPoll is how often -save-keys DIR looks for SAs that came or went.
const keysPoll = time.Second

// keys is the engine's key material, or none before the first engine.
func (d *daemon) keys() ([]ike.IKESAKeys, []ike.ESPSAKeys) {
	if e := d.current(); e != nil {
		return e.Keys()
	}
	return nil, nil
}

// SaveKeys implements control.KeyService: one snapshot of the tables,
// written to -save-keys DIR or defaultKeysDir.
func (d *daemon) SaveKeys() (control.SavedKeys, error) {
	dir := d.keysDir
	if dir == "" {
		dir = defaultKeysDir
	}
	ikeKeys, espKeys := d.keys()
	w, err := savekeys.Write(dir, ikeKeys, espKeys)
	if err != nil {
		return control.SavedKeys{}, err
	}
	d.logf("save-keys: wrote the keys of %d IKE SAs and %d ESP SAs to %s", w.IKE, w.ESP, dir)
	return control.SavedKeys{Dir: dir, Files: []string{w.IKEv2, w.ESPSA}, IKE: w.IKE, ESP: w.ESP, Unsupported: w.Unsupported}, nil
}

// followKeys keeps dir's tables in step with the SAs until ctx ends:
// every keysPoll it rewrites them when an SA came or went.
func (d *daemon) followKeys(ctx context.Context, dir string) {
	d.logf("-save-keys: writing IKE and ESP keys to %s (for Wireshark; keep it private)", dir)
	var last string
	tick := time.NewTicker(keysPoll)
	defer tick.Stop()
	for {
		ikeKeys, espKeys := d.keys()
		ikeText, _ := savekeys.IKEv2Table(ikeKeys)
		espText, _ := savekeys.ESPTable(espKeys)
		if now := ikeText + espText; now != last {
			if _, err := savekeys.Write(dir, ikeKeys, espKeys); err != nil {
				d.logf("%v", err)
			} else {
				last = now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
