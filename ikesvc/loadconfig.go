package main

import (
	"io"
	"time"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
)

// loadConfig reads a -config file of set lines and checks it exactly as a
// board's commit does (model.Config.Validate: references, key against
// certificate, certificate chain, crl-mode strict), then as the engine
// will take it (settingsFrom), before any socket or kernel state is
// touched: a broken file fails at once with every problem, one per line.
// What depends on the clock (validity periods, CRL next-update) goes to
// warn instead, one call per problem: it may heal once the clock is set.
func loadConfig(r io.Reader, now time.Time, warn func(error)) (*model.Config, error) {
	cfg, err := settext.Parse(r)
	if err != nil {
		return nil, err
	}
	if len(cfg.IPsec.Peers) == 0 {
		return cfg, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, w := range cfg.TimeWarnings(now) {
		warn(w)
	}
	if _, err := settingsFrom(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}
