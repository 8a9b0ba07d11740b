package shell

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"time"

	"alixsec.dev/firmware/updfile"
)

// Firmware installs signed updates into the inactive slot and switches
// slots (firmware/ab.BoardFirmware on the board).
type Firmware interface {
	// Upgrade verifies the update file read from r against the built-in
	// key and extra, writes it to the inactive slot and arms a one-time
	// trial boot of it; it returns the new version.
	Upgrade(ctx context.Context, r io.Reader, extra []updfile.PublicKey, progress io.Writer) (string, error)
	// Rollback arms a trial boot of the other slot and returns its label.
	Rollback() (string, error)
	// Status returns lines for show system.
	Status() ([]string, error)
}

// maxUpdateBytes bounds what an upgrade reads: an update holds a kernel
// and an initramfs that fit a slot (15 MiB), plus its header.
const maxUpdateBytes = 16 << 20

// upgradeTimeout bounds a whole upgrade, transfer included (a slow link
// to a remote site).
const upgradeTimeout = 30 * time.Minute

// upgrade is `request system upgrade URL|-`: fetch (HTTP) or read (the
// session's input) a signed update file, install it and reboot into it.
func (sh *Shell) upgrade(args []string) error {
	if sh.env.Firmware == nil {
		return fmt.Errorf("request system upgrade is not available here")
	}
	if len(args) != 1 {
		return fmt.Errorf("usage: request system upgrade <http://host/file.upd | ->")
	}
	trusted, err := sh.trustedUpdateKeys()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), upgradeTimeout)
	defer cancel()
	var r io.Reader
	switch src := args[0]; {
	case src == "-":
		if sh.env.Stdin == nil {
			return fmt.Errorf("request system upgrade -: this session has no input stream (use ssh BOARD request system upgrade - < FILE, or a URL)")
		}
		r = sh.env.Stdin
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return fmt.Errorf("request system upgrade: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("request system upgrade: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("request system upgrade: %s: %s", src, resp.Status)
		}
		r = resp.Body
	default:
		return fmt.Errorf("request system upgrade: %q is neither an http:// or https:// URL nor - (the session's input)", src)
	}
	version, err := sh.env.Firmware.Upgrade(ctx, io.LimitReader(r, maxUpdateBytes), trusted, sh.out)
	if err != nil {
		return fmt.Errorf("request system upgrade: %w", err)
	}
	fmt.Fprintf(sh.out, "upgrade to %s installed; it becomes the default once it comes up healthy, else the current firmware boots again\n", version)
	return sh.signalInit(syscall.SIGTERM, "rebooting")
}

// trustedUpdateKeys are the running config's system update trusted-key
// entries (the built-in key is added by Firmware).
func (sh *Shell) trustedUpdateKeys() ([]updfile.PublicKey, error) {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(snap.Config.System.Update.TrustedKeys))
	for n := range snap.Config.System.Update.TrustedKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	var keys []updfile.PublicKey
	for _, n := range names {
		k, err := updfile.ParsePublicKey(snap.Config.System.Update.TrustedKeys[n])
		if err != nil {
			return nil, fmt.Errorf("system update trusted-key %s: %w", n, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// rollbackFirmware is `request system rollback`: boot the other slot, on
// trial like an upgrade.
func (sh *Shell) rollbackFirmware(args []string) error {
	if sh.env.Firmware == nil {
		return fmt.Errorf("request system rollback is not available here")
	}
	slot, err := sh.env.Firmware.Rollback()
	if err != nil {
		return fmt.Errorf("request system rollback: %w", err)
	}
	fmt.Fprintf(sh.out, "the next boot tries slot %s once; it becomes the default once it comes up healthy\n", slot)
	return sh.signalInit(syscall.SIGTERM, "rebooting")
}

// showFirmware adds the firmware lines to show system.
func (sh *Shell) showFirmware() {
	if sh.env.Firmware == nil {
		return
	}
	lines, err := sh.env.Firmware.Status()
	if err != nil {
		fmt.Fprintf(sh.out, "firmware:  unknown (%v)\n", err)
		return
	}
	for _, l := range lines {
		fmt.Fprintln(sh.out, l)
	}
}
