package shell

import (
	"fmt"
	"strings"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
)

func (sh *Shell) showConfiguration(args []string) error {
	if err := model.CheckPath(args); err != nil {
		return err
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(sh.out, "# running revision %d, %s%s\n", snap.Revision, snap.Time.UTC().Format("2006-01-02 15:04:05 UTC"), commentSuffix(snap.Comment))
	lines := settext.FormatLines(snap.Config, args)
	if len(lines) == 0 && len(args) > 0 {
		return fmt.Errorf("%s: not set", model.JoinWords(args))
	}
	for _, l := range lines {
		fmt.Fprintln(sh.out, l)
	}
	return nil
}

func commentSuffix(c string) string {
	if c == "" {
		return ""
	}
	return " (" + c + ")"
}

func (sh *Shell) showHistory(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	running, revs, err := sh.env.Client.History(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(sh.out, "  revision  time                     comment")
	for _, r := range revs {
		mark := " "
		if r.Revision == running {
			mark = "*"
		}
		fmt.Fprintf(sh.out, "%s %8d  %s  %s\n", mark, r.Revision, r.Time.UTC().Format("2006-01-02 15:04:05 UTC"), strings.TrimSpace(r.Comment))
	}
	return nil
}
