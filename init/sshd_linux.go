package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"alixsec.dev/configsvc/api"
)

// sshdBinary is the SSH server (configsvc/sshd); it follows the config
// and listens only once an authorized key is set.
const sshdBinary = "/bbin/sshd"

func sshdService() *service {
	return &service{name: "sshd", env: serviceEnv(), argv: []string{sshdBinary,
		"-socket", api.DefaultSocket, "-ikesvc-socket", ikesvcSocket, "-log-socket", logSocket}}
}

// showHostKey prints the SSH host key's fingerprint on the console, so
// that an admin can check the first connection against it. configsvc
// makes the key on first boot; init waits for it at most wait (the
// console CLI waits for configsvc anyway).
func showHostKey(tty io.Writer, socket string, wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		if fp, err := hostKeyFingerprint(ctx, socket); err == nil {
			fmt.Fprintf(tty, "ssh host key: %s\r\n", fp)
			return
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(tty, "ssh host key: unknown (configsvc did not answer within %v)\r\n", wait)
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func hostKeyFingerprint(ctx context.Context, socket string) (string, error) {
	c, err := api.Dial(socket)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_, fp, err := c.HostKey(ctx)
	return fp, err
}
