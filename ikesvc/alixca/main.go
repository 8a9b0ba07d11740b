// Command alixca is the host-side CA of alixsec: it keeps a root CA, an
// intermediate CA (path length 0) and the host certificates they issue in
// one directory, revokes, publishes CRLs and packs preseed bundles for the
// image builder. See README.md for the directory layout and the workflow.
//
//	alixca [-dir DIR] ca init|intermediate [flags]
//	alixca [-dir DIR] issue HOST [-csr FILE] [-dns NAME,...] [-ip ADDR,...] [-key TYPE] [-days N] [-force]
//	alixca [-dir DIR] revoke HOST|SERIAL [-reason REASON]
//	alixca [-dir DIR] crl [-days N]
//	alixca [-dir DIR] list
//	alixca [-dir DIR] show NAME
//	alixca [-dir DIR] bundle HOST [-o FILE.tar] [-no-key]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, time.Now()); err != nil {
		// One line, whatever went wrong: the errors below are built as
		// "command argument: what failed".
		fmt.Fprintf(os.Stderr, "alixca: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

// env is what every command works with: the CA directory, where to print,
// and the clock (injected so tests can issue certificates in the past).
type env struct {
	dir string
	out io.Writer
	now time.Time
}

const usage = `usage: alixca [-dir DIR] COMMAND [ARGS]
commands:
  ca init [-subject DN] [-key TYPE] [-days N]          create the root CA
  ca intermediate [-subject DN] [-key TYPE] [-days N]  create the intermediate CA (path length 0)
  issue HOST [-csr FILE] [-dns N,..] [-ip A,..] [-key TYPE] [-days N] [-cdp URL] [-force]
  revoke HOST|SERIAL|intermediate-ca [-reason REASON]
  crl [-days N]                                        publish root-ca.crl and intermediate-ca.crl
  list                                                 every certificate in index.txt
  show NAME                                            a certificate or CRL in plain words
  bundle HOST [-o FILE.tar] [-no-key]                  preseed tarball for the image builder
key types: p256 (default), rsa2048, rsa3072, rsa4096, ed25519
`

func run(args []string, out io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("alixca", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", envOr("ALIXCA_DIR", "."), "CA directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, usage)
			return nil
		}
		return err
	}
	e := &env{dir: *dir, out: out, now: now}
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New("no command (try alixca -h)")
	}
	cmd, cmdArgs := rest[0], rest[1:]
	switch cmd {
	case "ca":
		if len(cmdArgs) == 0 {
			return errors.New("ca: want init or intermediate")
		}
		switch cmdArgs[0] {
		case "init":
			return prefix("ca init", e.caInit(cmdArgs[1:]))
		case "intermediate":
			return prefix("ca intermediate", e.caIntermediate(cmdArgs[1:]))
		}
		return fmt.Errorf("ca %s: unknown subcommand (want init or intermediate)", cmdArgs[0])
	case "issue":
		return e.issue(cmdArgs)
	case "revoke":
		return e.revoke(cmdArgs)
	case "crl":
		return prefix("crl", e.publishCRLs(cmdArgs))
	case "list":
		return prefix("list", e.list(cmdArgs))
	case "show":
		return e.show(cmdArgs)
	case "bundle":
		return e.bundle(cmdArgs)
	case "help":
		fmt.Fprint(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (try alixca -h)", cmd)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func prefix(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// parseFlags parses flags that may come before or after the positional
// arguments ("revoke gw1 -reason keyCompromise" reads naturally) and
// returns the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// oneArg parses flags and requires exactly one positional argument.
func oneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("want one %s, got %d arguments", what, len(pos))
	}
	return pos[0], nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
