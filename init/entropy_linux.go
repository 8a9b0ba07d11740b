package main

import (
	"errors"
	"log"
	"time"

	"golang.org/x/sys/unix"
)

// awaitEntropy waits in getrandom(2) until the kernel's random number
// generator is initialized and logs when that was. init starts it first
// thing at boot because the kernel only gathers jitter entropy for a
// caller that waits (try_to_generate_entropy): without this the first to
// wait was ikesvc drawing its first SPI, and every boot's tunnel waited
// the 0.7 s (under TCG) the kernel then took. Nothing is credited that
// the kernel did not gather itself.
func awaitEntropy(logger *log.Logger, uptime func() (time.Duration, error)) {
	start := time.Now()
	var b [1]byte
	for {
		_, err := unix.Getrandom(b[:], 0)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			logger.Printf("random: waiting for the kernel's RNG: %v", err)
			return
		}
	}
	waited := time.Since(start).Round(time.Millisecond)
	if up, err := uptime(); err == nil {
		logger.Printf("random: kernel RNG ready %.3f s after kernel start (waited %v)", up.Seconds(), waited)
		return
	}
	logger.Printf("random: kernel RNG ready (waited %v)", waited)
}
