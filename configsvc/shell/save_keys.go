package shell

import (
	"fmt"

	"alixsec.dev/ikesvc/control"
)

// saveIPsecKeys is `request ipsec save-keys`: ikesvc writes Wireshark's
// ikev2_decryption_table and esp_sa under /tmp (RAM, gone at reboot; the
// CF is never written) for decrypting a capture; the CLI prints where,
// never a key.
func (sh *Shell) saveIPsecKeys(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("usage: request ipsec save-keys")
	}
	c, err := sh.dialIkesvc()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := sh.ctx()
	defer cancel()
	saved, err := c.SaveKeys(ctx)
	if err != nil {
		return fmt.Errorf("save-keys: %w", err)
	}
	fmt.Fprintln(sh.out, control.FormatSavedKeys(saved))
	fmt.Fprintln(sh.out, "they decrypt this appliance's IPsec traffic: copy them off with care, delete them after use")
	return nil
}
