// Command configsvc is the only writer of the appliance's configuration.
// It keeps the running config and its revisions in a bbolt file on the CF
// config partition and serves the API of package api on a unix socket.
//
//	configsvc -db /perm/config/config.db -socket /run/configsvc.sock -default-board qemu
//
// On first boot (no database file) it writes the built-in default for the
// board as revision 1, or the -preseed file of set lines if it exists and
// validates. A damaged database is never overwritten: configsvc
// exits with an error, unless -recover-corrupt is given, which renames the
// damaged file aside (PATH.corrupt-TIME) before starting from the default.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/server"
	"alixsec.dev/configsvc/settext"
	"alixsec.dev/configsvc/store"
	"alixsec.dev/init/svclog"
)

func main() {
	logger := svclog.New(os.Stderr, "configsvc", os.Getenv)
	if err := run(os.Args[1:], logger); err != nil {
		logger.Fatal(err)
	}
}

func run(args []string, logger *log.Logger) error {
	fs := flag.NewFlagSet("configsvc", flag.ContinueOnError)
	dbPath := fs.String("db", "/perm/config/config.db", "bbolt database file on the config partition")
	socket := fs.String("socket", api.DefaultSocket, "unix socket to serve the API on")
	board := fs.String("default-board", "", "board whose built-in default is written on first boot: alix, wrap or qemu")
	preseed := fs.String("preseed", "", "set-lines file to use instead of the built-in default on first boot (ignored if missing)")
	recoverCorrupt := fs.Bool("recover-corrupt", false, "rename a damaged database aside and start from the default instead of exiting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := openStore(*dbPath, *board, *preseed, *recoverCorrupt, logger)
	if err != nil {
		return err
	}
	defer st.Close()

	l, err := listen(*socket)
	if err != nil {
		return err
	}
	srv := server.New(st, logger.Printf)
	// The SSH host key is made on first boot, whether or not SSH is on,
	// so its fingerprint is known before the first login.
	if _, fp, err := srv.HostKey(); err != nil {
		logger.Printf("ssh host key: %v", err)
	} else {
		logger.Printf("ssh host key %s", fp)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		logger.Printf("%v: closing %s", s, *socket)
		l.Close()
	}()
	run, err := st.Running()
	if err != nil {
		return err
	}
	logger.Printf("serving %s on %s, running revision %d", *dbPath, *socket, run.Number)
	err = srv.Serve(l)
	os.Remove(*socket)
	return err
}

// openStore opens the database, creating it from the board default on
// first boot.
func openStore(path, board, preseed string, recoverCorrupt bool, logger *log.Logger) (*store.Store, error) {
	st, err := store.Open(path, store.Options{})
	var corrupt *store.CorruptError
	switch {
	case err == nil:
		return st, nil
	case errors.As(err, &corrupt) && recoverCorrupt:
		aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%w; moving it aside failed: %v", err, rerr)
		}
		logger.Printf("%v; moved it to %s and starting from the default", err, aside)
	case errors.Is(err, store.ErrNotFound):
		logger.Printf("no database at %s: first boot", path)
	default:
		return nil, err
	}
	if cfg, err := loadPreseed(preseed); err != nil {
		logger.Printf("ignoring preseed: %v", err)
	} else if cfg != nil {
		logger.Printf("first boot: using preseeded %s", preseed)
		st, err := store.Create(path, cfg, "preseeded from "+preseed, store.Options{})
		if err != nil {
			return nil, err
		}
		// The preseed may hold the host's private key; it now lives in
		// the database, so the plain file goes (one write, first boot).
		if err := removeDurably(preseed); err != nil {
			logger.Printf("preseed imported, but removing it failed: %v", err)
		}
		return st, nil
	}
	def, err := model.Default(board)
	if err != nil {
		return nil, err
	}
	logger.Printf("writing the factory default for board %q", board)
	return store.Create(path, def, "factory default for board "+board, store.Options{})
}

// loadPreseed reads a set-lines file kept on the card for first boot; a
// missing file is no error (nil config), an invalid one is.
func loadPreseed(path string) (*model.Config, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := settext.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// removeDurably removes path and syncs its directory, so the removal
// survives a power cut.
func removeDurably(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// listen binds the API socket, replacing a stale socket file left by a
// previous instance but refusing to run beside a live one.
func listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listening on %s: exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listening on %s: another configsvc is serving it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	return l, nil
}
