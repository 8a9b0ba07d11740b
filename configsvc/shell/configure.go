package shell

import (
	"fmt"
	"os"
	"strings"

	"alixsec.dev/configsvc/model"
)

func (sh *Shell) configure(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	s, err := sh.env.Client.OpenSession(ctx)
	if err != nil {
		return err
	}
	sh.sess, sh.mode = s, modeConfiguration
	fmt.Fprintf(sh.out, "[edit] candidate from revision %d\n", s.Base)
	return nil
}

func (sh *Shell) set(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("set what? expected one of %s", childNames(model.Schema()))
	}
	if isConsolePassword(args) {
		return sh.setConsolePassword(args[len(consolePasswordPath):])
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	return sh.sess.Set(ctx, args)
}

func (sh *Shell) delete(args []string) error {
	if isConsolePassword(args) {
		return sh.deleteConsolePassword(args[len(consolePasswordPath):])
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	return sh.sess.Delete(ctx, args)
}

func (sh *Shell) showCandidate(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	text, err := sh.sess.Show(ctx, args)
	if err != nil {
		return err
	}
	fmt.Fprint(sh.out, text)
	return nil
}

func (sh *Shell) compare(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	var text string
	var err error
	switch len(args) {
	case 0:
		text, err = sh.sess.Diff(ctx)
	case 2:
		a, aerr := parseRevision(args[0])
		b, berr := parseRevision(args[1])
		if aerr != nil || berr != nil {
			return fmt.Errorf("compare N M: both must be revision numbers (see show history)")
		}
		text, err = sh.env.Client.Compare(ctx, a, b)
	default:
		return fmt.Errorf("compare takes no arguments (running vs candidate) or two revisions N M")
	}
	if err != nil {
		return err
	}
	fmt.Fprint(sh.out, text)
	return nil
}

func (sh *Shell) commit(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	n, err := sh.sess.Commit(ctx, strings.Join(args, " "))
	if err != nil {
		return err
	}
	fmt.Fprintf(sh.out, "committed revision %d\n", n)
	sh.warnTimeDependent()
	sh.refreshHostname()
	return nil
}

// warnTimeDependent prints what the commit let through because it depends
// on the clock (model.Config.TimeWarnings: certificates outside their
// validity, CRLs past next-update), the same lines ikesvc -config prints.
func (sh *Shell) warnTimeDependent() {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return
	}
	for _, w := range snap.Config.TimeWarnings(sh.env.Now()) {
		fmt.Fprintf(sh.out, "warning: %v\n", w)
	}
}

func (sh *Shell) discard(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.sess.Discard(ctx); err != nil {
		return err
	}
	fmt.Fprintf(sh.out, "candidate reset to running revision %d\n", sh.sess.Base)
	return nil
}

func (sh *Shell) rollback(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("rollback needs one revision number N (see show history)")
	}
	n, err := parseRevision(args[0])
	if err != nil {
		return err
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.sess.Rollback(ctx, n); err != nil {
		return err
	}
	fmt.Fprintf(sh.out, "candidate loaded from revision %d; commit to make it running\n", n)
	return nil
}

// load reads a file of set lines (for example an exported config on a
// USB stick or the config partition) into the candidate; "-" reads them
// from the command's standard input (ssh HOST 'configure; load -; commit').
func (sh *Shell) load(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("load needs one file name, or - for standard input")
	}
	if args[0] == "-" {
		return sh.loadStdin()
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.sess.Load(ctx, string(b)); err != nil {
		return fmt.Errorf("load %s: %w", args[0], err)
	}
	fmt.Fprintf(sh.out, "candidate replaced from %s; compare, then commit\n", args[0])
	return nil
}

func (sh *Shell) exitConfig(args []string) error {
	ctx, cancel := sh.ctx()
	defer cancel()
	if d, err := sh.sess.Diff(ctx); err == nil && d != "no changes\n" {
		fmt.Fprintln(sh.out, "uncommitted changes discarded")
	}
	sh.Close()
	sh.mode = modeOperational
	return nil
}

func childNames(n *model.Node) string {
	var s []string
	for _, c := range n.Children {
		s = append(s, c.Name)
	}
	return strings.Join(s, ", ")
}

func (sh *Shell) candidate() *model.Config {
	if sh.sess == nil {
		return nil
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	c, err := sh.sess.Candidate(ctx)
	if err != nil {
		return nil
	}
	return c
}

func completeSet(sh *Shell, args []string, partial string) []model.Choice {
	return withPasswordChoice(model.Complete(sh.candidate(), args, partial, false), args, partial, setPasswordHelp)
}

func completeDelete(sh *Shell, args []string, partial string) []model.Choice {
	return withPasswordChoice(completeCandidatePath(sh, args, partial), args, partial, deletePasswordHelp)
}

// completeCandidatePath offers the candidate's paths, as show takes them.
func completeCandidatePath(sh *Shell, args []string, partial string) []model.Choice {
	return model.Complete(sh.candidate(), args, partial, true)
}

func completeRunningPath(sh *Shell, args []string, partial string) []model.Choice {
	ctx, cancel := sh.ctx()
	defer cancel()
	snap, err := sh.env.Client.Running(ctx)
	if err != nil {
		return nil
	}
	return model.Complete(snap.Config, args, partial, true)
}
