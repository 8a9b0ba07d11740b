//go:build alixsec_initexits

package main

// buildVariant "init-exits": init returns right after the banner, PID 1
// exits and the kernel panics (then reboots, panic=N).
const buildVariant = "init-exits"
