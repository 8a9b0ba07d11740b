package qemu

import "fmt"

// GuestForward returns a QEMU user-network guestfwd rule that connects
// each guest TCP connection to guestAddr ("10.0.2.100:80") with its own
// connection to hostPort on the host's loopback. guestfwd's plain
// tcp:HOST:PORT target is one chardev shared by every guest connection, so
// bytes of an aborted response would leak into the next one; the cmd:
// target runs a relay per connection (bash's /dev/tcp: no extra package).
func GuestForward(guestAddr string, hostPort int) string {
	return fmt.Sprintf("guestfwd=tcp:%s-cmd:bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; cat <&3 & cat >&3; wait'", guestAddr, hostPort)
}
