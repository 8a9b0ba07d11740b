package shell

import (
	"fmt"
	"strings"

	"alixsec.dev/configsvc/model"
)

// choicesAt returns what may come next after words, starting with partial.
func (sh *Shell) choicesAt(words []string, partial string) []model.Choice {
	cmds := sh.commands()
	var cmd *command
	i := 0
	for ; i < len(words); i++ {
		c, err := lookup(cmds, words[i])
		if err != nil {
			if cmd != nil && cmd.args != "" {
				break // the rest are arguments of cmd
			}
			return nil
		}
		cmd = c
		if len(c.sub) == 0 {
			i++
			break
		}
		cmds = c.sub
	}
	var out []model.Choice
	if cmd == nil || (len(cmd.sub) > 0 && i == len(words)) {
		if cmd != nil && cmd.run != nil {
			out = append(out, model.EndChoice)
		}
		for _, c := range cmds {
			if strings.HasPrefix(c.name, partial) {
				out = append(out, model.Choice{Word: c.name, Help: c.help})
			}
		}
		if cmd == nil || cmd.args == "" {
			return out
		}
	}
	args := words[i:]
	switch {
	case cmd.complete != nil:
		return append(out, cmd.complete(sh, args, partial)...)
	case cmd.args != "":
		return append(out, model.Choice{Word: cmd.args, Help: cmd.help, Placeholder: true})
	case len(args) == 0 && partial == "":
		return append(out, model.EndChoice)
	}
	return out
}

// splitForCompletion splits the text before the cursor into complete
// words and the partial word being typed.
func splitForCompletion(line string) (words []string, partial string, ok bool) {
	words, err := model.SplitWords(line)
	if err != nil {
		return nil, "", false
	}
	if line != "" && !strings.HasSuffix(line, " ") && len(words) > 0 {
		partial = words[len(words)-1]
		words = words[:len(words)-1]
	}
	return words, partial, true
}

// helpRequest recognises a line ending in "?" and returns the text before
// the question mark.
func helpRequest(line string) (string, bool) {
	t := strings.TrimRight(line, " \t\r\n")
	if !strings.HasSuffix(t, "?") {
		return "", false
	}
	before := t[:len(t)-1]
	if strings.Count(before, `"`)%2 == 1 || strings.Count(before, "'")%2 == 1 {
		return "", false // a ? inside a quoted value
	}
	return before, true
}

// printHelp lists the possible next words for the text before "?".
func (sh *Shell) printHelp(before string) {
	words, partial, ok := splitForCompletion(before)
	if !ok {
		fmt.Fprintln(sh.out, "% unterminated quote")
		return
	}
	cs := sortedChoices(sh.choicesAt(words, partial))
	if len(cs) == 0 {
		fmt.Fprintln(sh.out, "% no valid continuation here")
		return
	}
	width := 0
	for _, c := range cs {
		width = max(width, len(c.Word))
	}
	width = min(width, 24)
	for _, c := range cs {
		fmt.Fprintf(sh.out, "  %-*s  %s\n", width, c.Word, c.Help)
	}
}

// Complete implements tab completion on the text before the cursor. It
// returns the new text before the cursor, or ok=false when nothing can be
// added; when several words fit it lists them to out.
func (sh *Shell) Complete(before string) (string, bool) {
	words, partial, ok := splitForCompletion(before)
	if !ok || !strings.HasSuffix(before, partial) {
		return "", false
	}
	var lits []string
	for _, c := range sh.choicesAt(words, partial) {
		if !c.Placeholder && strings.HasPrefix(c.Word, partial) {
			lits = append(lits, c.Word)
		}
	}
	switch len(lits) {
	case 0:
		return "", false
	case 1:
		return before[:len(before)-len(partial)] + model.Quote(lits[0]) + " ", true
	}
	prefix := lits[0]
	for _, l := range lits[1:] {
		for !strings.HasPrefix(l, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if len(prefix) > len(partial) {
		return before[:len(before)-len(partial)] + prefix, true
	}
	fmt.Fprintf(sh.out, "%s\n", strings.Join(lits, "  "))
	return "", false
}
