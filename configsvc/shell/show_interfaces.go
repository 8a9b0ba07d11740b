package shell

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func (sh *Shell) showInterfaces(args []string) error {
	ifs, err := sh.env.Interfaces()
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	fmt.Fprintf(sh.out, "%-10s %-5s %5s  %-17s %12s %12s  %s\n", "interface", "state", "mtu", "mac", "rx bytes", "tx bytes", "addresses")
	for _, ifc := range ifs {
		state := "down"
		if ifc.Flags&1 != 0 { // net.FlagUp
			state = "up"
		}
		var addrs []string
		if as, err := ifc.Addrs(); err == nil {
			for _, a := range as {
				addrs = append(addrs, a.String())
			}
		}
		mac := ifc.HardwareAddr.String()
		if mac == "" {
			mac = "-"
		}
		fmt.Fprintf(sh.out, "%-10s %-5s %5d  %-17s %12s %12s  %s\n", ifc.Name, state, ifc.MTU, mac,
			sh.stat(ifc.Name, "rx_bytes"), sh.stat(ifc.Name, "tx_bytes"), strings.Join(addrs, " "))
	}
	return nil
}

func (sh *Shell) stat(ifname, counter string) string {
	b, err := os.ReadFile(filepath.Join(sh.env.SysRoot, "class/net", ifname, "statistics", counter))
	if err != nil {
		return "-"
	}
	return strings.TrimSpace(string(b))
}
