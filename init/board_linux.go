package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"
)

// setLED switches a /sys/class/leds LED on or off. Boards without the LED
// (QEMU) are not an error worth more than a debug line.
func setLED(name string, on bool) error {
	if name == "" {
		return nil
	}
	v := "0"
	if on {
		v = "1"
	}
	p := filepath.Join("/sys/class/leds", name, "brightness")
	if err := os.WriteFile(p, []byte(v), 0); err != nil {
		return fmt.Errorf("led %s: %w", name, err)
	}
	return nil
}

// watchdog pets the board's hardware watchdog while healthy() says the
// system works, so a hung firmware is rebooted by the hardware. On a clean
// shutdown it writes the magic 'V' to disarm it. arm opens (starts) it
// early in the boot, so a firmware on trial that hangs before its services
// run is reset too; run pets it.
type watchdog struct {
	logger   *log.Logger
	device   string
	interval time.Duration
	healthy  func() bool
	f        *os.File
}

func (w *watchdog) arm() {
	if w.device == "" {
		return
	}
	f, err := os.OpenFile(w.device, os.O_WRONLY, 0)
	if err != nil {
		w.logger.Printf("watchdog %s: %v (running without one)", w.device, err)
		return
	}
	w.f = f
	w.logger.Printf("watchdog %s armed, petted every %s while healthy", w.device, w.interval)
}

func (w *watchdog) run(ctx context.Context) {
	if w.f == nil {
		return
	}
	defer w.f.Close()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.f.Write([]byte("V"))
			return
		case <-tick.C:
			if w.healthy() {
				w.f.Write([]byte{0})
			}
		}
	}
}
