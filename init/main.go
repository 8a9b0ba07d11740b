// Command init is PID 1 of the alixsec firmware. It builds the in-RAM root
// filesystem, prints the banner on the serial console, keeps a shell on the
// console, reaps orphans and turns signals from the CLI into a clean reboot
// or power-off.
package main

import (
	"log"
	"os"
)

func main() {
	logger := log.New(os.Stderr, "init: ", 0)
	if err := run(logger); err != nil {
		logger.Fatalf("%v", err)
	}
}
