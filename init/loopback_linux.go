package main

import (
	"fmt"
	"log"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"alixsec.dev/init/netconf"
)

// upLoopback brings lo up (127.0.0.1/8, ::1) before any service starts:
// services and the CLI talk over loopback, and a down lo fails them in
// ways that look like anything but a down interface.
func upLoopback(logger *log.Logger) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("loopback: netlink: %w", err)
	}
	defer h.Close()
	return netconf.New(h, logger.Printf).Loopback()
}
