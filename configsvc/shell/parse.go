package shell

import (
	"fmt"
	"sort"
	"strings"

	"alixsec.dev/configsvc/model"
)

// command is one node of a mode's command tree.
type command struct {
	name string
	help string
	sub  []*command
	// args describes the arguments for help ("" means none allowed).
	args string
	run  func(sh *Shell, args []string) error
	// complete offers choices for the argument after args.
	complete func(sh *Shell, args []string, partial string) []model.Choice
}

func (sh *Shell) commands() []*command {
	if sh.mode == modeConfiguration {
		return configCommands()
	}
	return operationalCommands()
}

func names(cmds []*command) string {
	n := make([]string, len(cmds))
	for i, c := range cmds {
		n[i] = c.name
	}
	return strings.Join(n, ", ")
}

// lookup finds word among cmds, accepting a unique prefix ("sh" for show).
func lookup(cmds []*command, word string) (*command, error) {
	var found []*command
	for _, c := range cmds {
		if c.name == word {
			return c, nil
		}
		if strings.HasPrefix(c.name, word) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("unknown command %q: valid here: %s", word, names(cmds))
	}
	return nil, fmt.Errorf("ambiguous command %q: could be %s", word, names(found))
}

// parseLine splits line and walks the command tree. It returns the
// command to run (nil for an empty line) and its arguments.
func parseLine(cmds []*command, line string) (*command, []string, error) {
	words, err := model.SplitWords(line)
	if err != nil {
		return nil, nil, err
	}
	if len(words) == 0 {
		return nil, nil, nil
	}
	c, err := lookup(cmds, words[0])
	if err != nil {
		return nil, nil, err
	}
	path, rest := []string{c.name}, words[1:]
	for len(c.sub) > 0 {
		if len(rest) == 0 {
			if c.run != nil {
				break
			}
			return nil, nil, fmt.Errorf("%s: incomplete: expected one of %s", strings.Join(path, " "), names(c.sub))
		}
		next, err := lookup(c.sub, rest[0])
		if err != nil {
			if c.run != nil && c.args != "" {
				break
			}
			return nil, nil, fmt.Errorf("%s: %w", strings.Join(path, " "), err)
		}
		c, path, rest = next, append(path, next.name), rest[1:]
	}
	if c.args == "" && len(rest) > 0 {
		return nil, nil, fmt.Errorf("%s: unexpected %q: takes no arguments", strings.Join(path, " "), rest[0])
	}
	return c, rest, nil
}

func (sh *Shell) parse(line string) (*command, []string, error) {
	return parseLine(sh.commands(), line)
}

// oneLine keeps the first line of an error, so that a bad command or value
// is answered with exactly one line.
func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func sortedChoices(cs []model.Choice) []model.Choice {
	sort.SliceStable(cs, func(i, j int) bool { return !cs[i].Placeholder && cs[j].Placeholder })
	return cs
}
