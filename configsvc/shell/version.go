package shell

import (
	"os"
	"strings"
)

// VersionFile is where the image builder writes the firmware version
// (the busybox build cannot take -ldflags -X).
const VersionFile = "/etc/alixsec-version"

// FirmwareVersion reads VersionFile, or returns "dev" off the board.
func FirmwareVersion() string {
	if b, err := os.ReadFile(VersionFile); err == nil {
		if v := strings.TrimSpace(string(b)); v != "" {
			return v
		}
	}
	return "dev"
}
