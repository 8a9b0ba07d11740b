package qemu

import (
	"fmt"
	"net"
	"testing"
)

// FreeTCPPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SSHNetArgs gives the QEMU board (eth0 10.99.0.1/24 by default) an
// e1000 on a QEMU user network that reaches nothing outside (restrict=on)
// but forwards 127.0.0.1:hostPort on this machine to the board's SSH
// port 22. The user network is 10.99.0.0/24 so that the board's default
// address is inside it; connections arrive from 10.99.0.2.
func SSHNetArgs(hostPort int) []string {
	return []string{
		"-netdev", fmt.Sprintf("user,id=lan,restrict=on,net=10.99.0.0/24,host=10.99.0.2,dhcpstart=10.99.0.100,hostfwd=tcp:127.0.0.1:%d-10.99.0.1:22", hostPort),
		"-device", "e1000,netdev=lan",
	}
}
