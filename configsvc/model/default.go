package model

import "fmt"

// Default returns the built-in configuration written on first boot for the
// named board (alix, wrap or qemu), so that a fresh card boots to a
// reachable, explainable state.
func Default(board string) (*Config, error) {
	c := &Config{}
	lines := [][]string{
		{"system", "hostname", DefaultHostname},
		{"system", "console", "device", DefaultConsoleDevice},
		{"system", "console", "speed", fmt.Sprint(DefaultConsoleSpeed)},
	}
	switch board {
	case "qemu":
		lines = append(lines, []string{"interfaces", "eth0", "address", "10.99.0.1/24"})
	case "alix", "wrap", "":
	default:
		return nil, fmt.Errorf("default config: unknown board %q (known: alix, wrap, qemu)", board)
	}
	for _, l := range lines {
		if err := c.Set(l); err != nil {
			return nil, fmt.Errorf("default config for board %q: %w", board, err)
		}
	}
	return c, nil
}
