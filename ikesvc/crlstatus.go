package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"alixsec.dev/ikesvc/control"
)

// The control socket's crls command asks the Service it serves for this.
var _ control.CRLService = (*daemon)(nil)

// CRLFetchStatus implements control.CRLService: the distribution points
// the CRL fetcher watches, or "not enabled" while ipsec crl-fetch is off.
func (d *daemon) CRLFetchStatus() control.CRLFetch {
	d.fetchMu.Lock()
	f := d.fetcher
	d.fetchMu.Unlock()
	if f == nil {
		return control.CRLFetch{URLs: []control.CRL{}}
	}
	// Status only reads under the fetcher's own lock, so a fetcher
	// closed meanwhile by a commit still answers (with what it had).
	return control.CRLFetch{Enabled: true, URLs: f.Status()}
}

// runCRLs is `ikesvc -control SOCKET crls`: the CRL distribution points
// as `show pki` prints them.
func runCRLs(ctx context.Context, c *control.Client, stdout, stderr io.Writer) int {
	st, err := c.CRLs(ctx)
	if err == nil {
		err = control.FormatCRLs(stdout, st, time.Now())
	}
	if err != nil {
		fmt.Fprintf(stderr, "ikesvc: crls: %v\n", err)
		return 1
	}
	return 0
}
