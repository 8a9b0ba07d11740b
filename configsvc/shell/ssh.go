package shell

import (
	"fmt"
	"strings"

	"alixsec.dev/configsvc/model"
)

// sshRequestCommand is `request system ssh ...`.
func sshRequestCommand() *command {
	return &command{name: "ssh", help: "SSH server actions", sub: []*command{
		{name: "regenerate-host-key", help: "replace the SSH host key (committed as a revision; clients will see a new key)", run: (*Shell).regenerateHostKey},
	}}
}

func (sh *Shell) regenerateHostKey(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	n, fp, err := sh.env.Client.RegenerateHostKey(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(sh.out, "committed revision %d: new ssh host key %s\n", n, fp)
	fmt.Fprintln(sh.out, "clients that knew the old key must drop it (ssh-keygen -R HOST) and check the new fingerprint")
	return nil
}

// showSSHStatus prints the SSH lines of `show system`.
func (sh *Shell) showSSHStatus(cfg *model.Config) {
	ssh := &cfg.System.SSH
	if !ssh.Enabled() {
		fmt.Fprintln(sh.out, "ssh:       off (no authorized key: set system ssh authorized-key NAME \"ssh-ed25519 AAAA...\")")
	} else {
		where := "every address"
		if len(ssh.ListenAddresses) > 0 {
			var a []string
			for _, addr := range ssh.ListenAddresses {
				a = append(a, addr.String())
			}
			where = strings.Join(a, ", ")
		}
		fmt.Fprintf(sh.out, "ssh:       on, port %d on %s, authorized keys: %d, idle timeout %d min\n",
			ssh.PortOrDefault(), where, len(ssh.AuthorizedKeys), ssh.IdleMinutes())
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	if _, fp, err := sh.env.Client.HostKey(ctx); err != nil {
		fmt.Fprintf(sh.out, "ssh host key: unknown (%v)\n", err)
	} else {
		fmt.Fprintf(sh.out, "ssh host key: %s\n", fp)
	}
}
