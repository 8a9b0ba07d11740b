package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pluginDir is where Debian's strongSwan packages put charon's plugins.
const pluginDir = "/usr/lib/ipsec/plugins"

// MissingTools lists what the harness needs and does not find: commands on
// PATH, a charon binary and every plugin of the load list.
func MissingTools() []string {
	var missing []string
	for _, cmd := range []string{"ip", "nsenter", "unshare", "swanctl", "dumpcap", "tshark", "bash", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, cmd)
		}
	}
	if _, _, err := FindCharon(); err != nil {
		missing = append(missing, "charon")
	}
	for _, p := range strings.Fields(charonPlugins) {
		so := filepath.Join(pluginDir, "libstrongswan-"+p+".so")
		if _, err := os.Stat(so); err != nil {
			missing = append(missing, so)
		}
	}
	return missing
}

// InstallTools runs deps.sh (next to this package's sources, dir) when
// something is missing; as root it apt-get installs the packages. It
// returns an error naming what is still missing afterwards.
func InstallTools(ctx context.Context, dir string) error {
	if len(MissingTools()) == 0 {
		return nil
	}
	// Not runCmd: apt-get takes longer than its 30 s bound; ctx bounds it.
	cmd := exec.CommandContext(ctx, "bash", "deps.sh")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("install interop dependencies: %w\n%s", err, out)
	}
	if m := MissingTools(); len(m) > 0 {
		return fmt.Errorf("still missing after deps.sh: %s", strings.Join(m, ", "))
	}
	return nil
}
