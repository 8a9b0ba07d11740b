package qemu

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CLIPrompt matches the firmware CLI's operational prompt "<hostname>> "
// at the start of a line; the submatch is the host name.
var CLIPrompt = regexp.MustCompile(`(?m)^([a-zA-Z0-9.-]+)> $`)

// commandOutput matches the rest of an echoed command line, the output and
// the next prompt (operational "host> ", configuration "host# " or the
// shell's "$ ") at the very end of the console output.
var commandOutput = regexp.MustCompile(`(?s)\r?\n(.*?)(?:[a-zA-Z0-9.-]+[>#]|\$) $`)

// Command types a CLI command line and returns what the CLI printed before
// its next prompt, with carriage returns removed.
func (vm *VM) Command(line string, timeout time.Duration) (string, error) {
	if err := vm.Type(line); err != nil {
		return "", err
	}
	m, err := vm.Expect(commandOutput, timeout)
	if err != nil {
		return "", fmt.Errorf("after %q: %w", line, err)
	}
	return strings.ReplaceAll(m[1], "\r", ""), nil
}

var sectorsRe = regexp.MustCompile(`disk sda: (\d+) sectors written since boot`)

// SectorsWritten reads the CF card's write counter (field 7 of
// /sys/block/sda/stat) from the CLI's `show system`.
func (vm *VM) SectorsWritten(timeout time.Duration) (int, error) {
	out, err := vm.Command("show system", timeout)
	if err != nil {
		return 0, err
	}
	m := sectorsRe.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("show system has no sda write counter:\n%s", out)
	}
	return strconv.Atoi(m[1])
}
