// Package board describes the boards alixsec runs on: the kernel config
// fragment each one needs, its serial console, its network interfaces, its
// LEDs and its watchdog. The image builder uses it on the host; init uses it
// on the board to find the devices it drives.
package board

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// fragments holds the kernel config text: common.config for every board and
// <board>/kernel.config for each one.
//
//go:embed common.config */kernel.config
var fragments embed.FS

// Board is one hardware target.
type Board struct {
	// Name is the board's short name, used in image file names and on the
	// kernel command line (alixsec.board=NAME).
	Name string
	// Description says what the board is, for humans.
	Description string
	// ConsoleBaud is the serial console speed on ttyS0.
	ConsoleBaud int
	// NICs are the kernel's names for the board's Ethernet ports, in the
	// order they are labelled on the case.
	NICs []string
	// PowerLED and TunnelLED are names under /sys/class/leds, empty when the
	// board has none.
	PowerLED, TunnelLED string
	// Watchdog is the watchdog device node, empty when the board has none.
	Watchdog string
	// ExtraCmdline is appended to the kernel command line.
	ExtraCmdline string
}

// Fragment returns the board's own kernel config fragment.
func (b Board) Fragment() (string, error) {
	data, err := fragments.ReadFile(b.Name + "/kernel.config")
	if err != nil {
		return "", fmt.Errorf("board %s: kernel fragment: %w", b.Name, err)
	}
	return string(data), nil
}

// Cmdline returns the kernel command line that boots this board.
func (b Board) Cmdline() string {
	parts := []string{
		fmt.Sprintf("console=ttyS0,%dn8", b.ConsoleBaud),
		"alixsec.board=" + b.Name,
		"quiet",
	}
	if b.ExtraCmdline != "" {
		parts = append(parts, b.ExtraCmdline)
	}
	return strings.Join(parts, " ")
}

// all lists every supported board. It is a function, not a package variable,
// so callers cannot change the table.
func all() []Board {
	return []Board{
		{
			Name:        "alix",
			Description: "PC Engines ALIX 2/3/6 (AMD Geode LX800, CS5536, VIA Rhine NICs)",
			ConsoleBaud: 38400,
			NICs:        []string{"eth0", "eth1", "eth2"},
			PowerLED:    "alix:1",
			TunnelLED:   "alix:2",
			Watchdog:    "/dev/watchdog",
			// Boards with an Award BIOS are not detected without it.
			ExtraCmdline: "alix.force=1",
		},
		{
			Name:        "wrap",
			Description: "PC Engines WRAP (National Semiconductor Geode SC1100, NatSemi NICs)",
			ConsoleBaud: 38400,
			NICs:        []string{"eth0", "eth1", "eth2"},
			PowerLED:    "wrap::power",
			TunnelLED:   "wrap::error",
			Watchdog:    "/dev/watchdog",
		},
		{
			Name:        "qemu",
			Description: "QEMU qemu-system-i386 -cpu pentium (PIIX IDE, e1000 NIC, -device i6300esb watchdog)",
			ConsoleBaud: 38400,
			NICs:        []string{"eth0", "eth1"},
			// Present when QEMU runs with -device i6300esb (the upgrade
			// tests); without it init runs without a watchdog.
			Watchdog: "/dev/watchdog",
		},
	}
}

// Names returns the names of all supported boards, sorted.
func Names() []string {
	var names []string
	for _, b := range all() {
		names = append(names, b.Name)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the board with the given name.
func Lookup(name string) (Board, error) {
	for _, b := range all() {
		if b.Name == name {
			return b, nil
		}
	}
	return Board{}, fmt.Errorf("unknown board %q (supported: %s)", name, strings.Join(Names(), ", "))
}

// KernelConfig returns the kernel config fragment of the one kernel that
// boots every board: the common options followed by each board's fragment.
// One kernel keeps the image cache small and lets a CF card move between
// boards; it works because M586MMX code runs on all of them.
func KernelConfig() (string, error) {
	var sb strings.Builder
	common, err := fragments.ReadFile("common.config")
	if err != nil {
		return "", fmt.Errorf("common kernel fragment: %w", err)
	}
	sb.Write(common)
	for _, name := range Names() {
		b, _ := Lookup(name)
		frag, err := b.Fragment()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "\n# ---- board %s ----\n%s", name, frag)
	}
	return sb.String(), nil
}
