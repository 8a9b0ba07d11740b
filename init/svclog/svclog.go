// Package svclog is the logging agreement between init and the services it
// supervises. init collects each service's stderr into its RAM ring, which
// stamps every line with the time and the service's name; a service under
// init therefore writes bare lines, or each would carry two timestamps and
// two names. Run by hand, a service stamps its lines itself.
package svclog

import (
	"io"
	"log"
)

// EnvVar is set (to "1") in the environment of the services init runs.
const EnvVar = "ALIXSEC_LOG_RING"

// Env is the environment entry init passes to its services.
func Env() string { return EnvVar + "=1" }

// New returns the logger of the service name writing to w: bare lines when
// getenv(EnvVar) says init supervises it, else "2006/01/02 15:04:05 name: msg".
func New(w io.Writer, name string, getenv func(string) string) *log.Logger {
	if getenv(EnvVar) == "1" {
		return log.New(w, "", 0)
	}
	return log.New(w, name+": ", log.LstdFlags|log.Lmsgprefix)
}
