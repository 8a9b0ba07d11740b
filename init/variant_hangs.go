//go:build alixsec_hangs

package main

// buildVariant "hangs": init arms the watchdog and then blocks forever,
// as a deadlocked init would: only the watchdog can end it.
const buildVariant = "hangs"
