// Command ikesvc is the IKEv2 daemon: it negotiates IKE and CHILD SAs with
// the configured peers and installs the ESP SAs and policies in the kernel.
//
//	ikesvc -config FILE -kernel netlink|memory|memory-file:PATH -control SOCKET [-listen ADDR] [-state FILE] [-save-keys DIR]
//	ikesvc -configsvc /run/configsvc.sock -kernel netlink -control /run/ikesvc.sock -state /run/ikesvc.state
//	ikesvc -control SOCKET show|crls|rekey PEER [child|ike|reauth]|terminate PEER|save-keys
//	ikesvc -control SOCKET [-timeout 30s] initiate PEER
//
// With -state FILE (in RAM: tmpfs or ramfs) ikesvc survives its own
// restart or crash without loss: the engine saves its IKE and CHILD SA
// state there after every change, SIGTERM leaves the kernel's SAs and
// policies installed and the peers untold, and the next start continues
// the same SAs. Without -state, SIGTERM deletes every SA (and tells the
// peers) and a start removes what an earlier run left in the kernel.
//
// Started by init with an fd store (ALIXSEC_FDSTORE_FD, LISTEN_FDS), ikesvc
// hands its IKE sockets to init right after opening them and adopts those
// it inherits, so the NAT-T socket (and with it the kernel's ESP-in-UDP
// decapsulation) and IKE messages queued in the sockets outlive the
// process. Without one (hosts, tests) it opens its sockets itself.
//
// Exit code 125 means "nothing to do, do not restart me": no ipsec peers in
// -config and no configsvc to follow.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"alixsec.dev/ikesvc/control"
	"alixsec.dev/ikesvc/kernel"
	"alixsec.dev/ikesvc/statefile"
	"alixsec.dev/init/fdstore"
	"alixsec.dev/init/svclog"
)

// exitDontRestart tells init to leave ikesvc stopped (gokrazy's convention).
const exitDontRestart = 125

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := runWith(ctx, os.Args[1:], os.Stdout, os.Stderr, inheritFromInit())
	stop()
	os.Exit(code)
}

// fdStore is what init's fd store passed to this process: the client
// that keeps the IKE sockets open across restarts, the sockets of the
// previous run, and a problem to log. The zero fdStore is a host run.
type fdStore struct {
	client    *fdstore.Client
	inherited *inheritedSockets
	err       error
}

// inheritFromInit reads the fd store's variables and unsets them: they
// name this process's descriptors, not a child's.
func inheritFromInit() fdStore {
	client, files, err := fdstore.Inherit(os.Getenv)
	for _, k := range []string{fdstore.EnvListenFDs, fdstore.EnvListenFDNames, fdstore.EnvStoreFD} {
		os.Unsetenv(k)
	}
	return fdStore{client: client, inherited: &inheritedSockets{files: files}, err: err}
}

type options struct {
	config, configsvc, kernel, control, listen, state string
	saveKeys                                          string
	port, nattPort                                    uint
	verbose                                           bool
	timeout                                           time.Duration
}

// run is ikesvc without an fd store (tests, hosts) until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, fdStore{})
}

// runWith is ikesvc until ctx ends (SIGINT or SIGTERM in main).
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, store fdStore) int {
	fs := flag.NewFlagSet("ikesvc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.config, "config", "", "file of `set` lines to load (instead of -configsvc)")
	fs.StringVar(&o.configsvc, "configsvc", "", "configsvc `socket` whose running revision to follow")
	fs.StringVar(&o.kernel, "kernel", "netlink", "SA backend: netlink (the kernel's XFRM) or memory (in process, for tests)")
	fs.StringVar(&o.control, "control", "", "control `socket` to serve (or, with a command, to talk to)")
	fs.StringVar(&o.listen, "listen", "", "local `address` to bind the IKE sockets to (default: all, IPv4 and IPv6)")
	fs.UintVar(&o.port, "port", 500, "IKE UDP `port` (ours and the peers')")
	fs.UintVar(&o.nattPort, "natt-port", 4500, "NAT-T UDP `port` (ours and the peers')")
	fs.BoolVar(&o.verbose, "v", false, "log every exchange, not only failures")
	fs.StringVar(&o.saveKeys, "save-keys", "", "keep Wireshark's ikev2_decryption_table and esp_sa in `dir`, updated as SAs come and go (secret keys: debugging only)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "initiate: how long to wait for the outcome (0: return once the handshake has started)")
	fs.StringVar(&o.state, "state", "", "`file` in RAM (tmpfs) keeping the SA state across restarts of ikesvc")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		if o.control == "" || o.config != "" || o.configsvc != "" {
			fmt.Fprintln(stderr, "ikesvc: a command (show, initiate PEER, terminate PEER) needs -control SOCKET and nothing else")
			return 2
		}
		return runClient(o.control, fs.Args(), o.timeout, stdout, stderr)
	}
	logger := svclog.New(stderr, "ikesvc", os.Getenv)
	if store.err != nil {
		logger.Printf("ikesvc: %v; opening the IKE sockets afresh", store.err)
	}
	if err := serve(ctx, o, logger, store); err != nil {
		if errors.Is(err, errNoPeers) {
			logger.Printf("%v in %s; not starting", err, o.config)
			return exitDontRestart
		}
		var fe fileError
		if errors.As(err, &fe) {
			// One line per problem, each naming the file and the item.
			for _, l := range strings.Split(fe.err.Error(), "\n") {
				logger.Printf("%s: %s", fe.file, l)
			}
			return 1
		}
		logger.Printf("%v", err)
		return 1
	}
	return 0
}

// fileError is a -config FILE that does not load; err holds one problem
// per line.
type fileError struct {
	file string
	err  error
}

func (e fileError) Error() string { return e.file + ": " + e.err.Error() }
func (e fileError) Unwrap() error { return e.err }

func serve(ctx context.Context, o options, logger *log.Logger, store fdStore) error {
	if (o.config == "") == (o.configsvc == "") {
		return errors.New("give exactly one of -config FILE and -configsvc SOCKET")
	}
	if o.port == 0 || o.port > 65535 || o.nattPort == 0 || o.nattPort > 65535 || o.port == o.nattPort {
		return fmt.Errorf("-port %d and -natt-port %d must be distinct UDP ports", o.port, o.nattPort)
	}
	var listen netip.Addr
	if o.listen != "" {
		var err error
		if listen, err = netip.ParseAddr(o.listen); err != nil {
			return fmt.Errorf("-listen: %w", err)
		}
	}
	logf := logger.Printf
	verbosef := func(string, ...any) {}
	if o.verbose {
		verbosef = logger.Printf
	}
	d := &daemon{logf: logf, verbosef: verbosef, port: uint16(o.port), nattPort: uint16(o.nattPort), localAddr: localAddrTowards, keysDir: o.saveKeys}
	if listen.IsValid() {
		d.localAddr = func(netip.Addr) (netip.Addr, error) { return listen.Unmap(), nil }
	}
	if o.config != "" {
		f, err := os.Open(o.config)
		if err != nil {
			return err
		}
		cfg, err := loadConfig(f, time.Now(), func(w error) { logger.Printf("%s: warning: %v", o.config, w) })
		f.Close()
		if err != nil {
			return fileError{o.config, err}
		}
		if len(cfg.IPsec.Peers) == 0 {
			return errNoPeers
		}
		return serveWith(ctx, o, d, listen, store, func() error { return d.apply(cfg, o.config) })
	}
	return serveWith(ctx, o, d, listen, store, func() error {
		go follow(ctx, o.configsvc, d)
		return nil
	})
}

// serveWith opens the kernel backend, the IKE sockets (adopting those
// the fd store kept, and handing it the current ones) and the control
// socket, runs start, and serves until ctx ends; it then deletes all SAs,
// or, with a state file, leaves them to the next run.
func serveWith(ctx context.Context, o options, d *daemon, listen netip.Addr, store fdStore, start func() error) error {
	var err error
	switch o.kernel {
	case "netlink":
		d.kern, err = kernel.NewNetlink(kernel.NetlinkConfig{Ownership: kernel.DefaultOwnership(), Logf: d.logf})
	case "memory":
		d.kern, err = kernel.NewMemory(kernel.DefaultOwnership(), time.Now)
	default:
		if path, ok := strings.CutPrefix(o.kernel, "memory-file:"); ok && path != "" {
			// Host tests of restarts: tables that outlive the process.
			d.kern, err = kernel.NewMemoryFile(path, kernel.DefaultOwnership(), time.Now)
			break
		}
		err = fmt.Errorf("-kernel %q: want netlink, memory or memory-file:PATH", o.kernel)
	}
	if err != nil {
		return err
	}
	if o.state != "" {
		if d.state, err = statefile.Open(o.state); err != nil {
			d.kern.Close()
			return err
		}
	}
	defer d.kern.Close()
	transport, err := listenUDP(listen, uint16(o.port), uint16(o.nattPort), d.logf, store.inherited)
	if err != nil {
		return err
	}
	if store.client != nil {
		if err := store.client.Replace(transport.named()); err != nil {
			d.logf("ikesvc: %v; a restart now closes the IKE sockets", err)
		}
		defer store.client.Close()
	}
	d.transport = transport
	// The sockets are read once the engine exists (d.startReceiving, from
	// apply): what came while no ikesvc ran waits in them until the
	// engine, with the state restored, can answer it.
	received := make(chan struct{})
	d.startReceiving = sync.OnceFunc(func() {
		go func() {
			transport.Serve(d.handlePacket)
			close(received)
		}()
	})
	events, err := d.kern.Events(ctx)
	if err != nil {
		transport.Close()
		return fmt.Errorf("subscribing to kernel events: %w", err)
	}
	go func() {
		for ev := range events {
			d.handleEvent(ev)
		}
	}()
	controlDone := make(chan error, 1)
	if o.control != "" {
		ln, err := control.Listen(o.control)
		if err != nil {
			transport.Close()
			return err
		}
		defer os.Remove(o.control)
		go func() { controlDone <- control.Serve(ctx, ln, d, d.logf) }()
	} else {
		controlDone <- nil
	}
	if err := start(); err != nil {
		d.logf("%v", err)
	}
	if o.saveKeys != "" {
		go d.followKeys(ctx, o.saveKeys)
	}
	d.logf("running (IKE port %d, NAT-T port %d, kernel %s)", o.port, o.nattPort, o.kernel)
	<-ctx.Done()
	err = d.close()
	transport.Close()
	d.startReceiving() // on closed sockets: returns at once
	<-received
	if cerr := <-controlDone; cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// runClient is the command-line mode for tests and shells.
func runClient(socket string, args []string, timeout time.Duration, stdout, stderr io.Writer) int {
	// The socket answers at once, except initiate, which waits up to timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+timeout)
	defer cancel()
	c, err := control.Dial(socket)
	if err != nil {
		fmt.Fprintf(stderr, "ikesvc: %v\n", err)
		return 1
	}
	defer c.Close()
	switch {
	case args[0] == "show" && len(args) == 1:
		sas, err := c.Show(ctx)
		if err == nil {
			err = control.Format(stdout, sas, time.Now())
		}
		if err != nil {
			fmt.Fprintf(stderr, "ikesvc: show: %v\n", err)
			return 1
		}
	case args[0] == "crls" && len(args) == 1:
		return runCRLs(ctx, c, stdout, stderr)
	case args[0] == "initiate" && len(args) == 2 && timeout <= 0:
		if err := c.Initiate(ctx, args[1]); err != nil {
			fmt.Fprintf(stderr, "ikesvc: %v\n", err)
			return 1
		}
	case args[0] == "save-keys" && len(args) == 1:
		saved, err := c.SaveKeys(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "ikesvc: save-keys: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, control.FormatSavedKeys(saved))
	case args[0] == "initiate" && len(args) == 2:
		// Like swanctl --initiate: the outcome, and the exit status says it.
		o, err := c.InitiateWait(ctx, args[1], timeout)
		if err != nil {
			fmt.Fprintf(stderr, "ikesvc: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: %s\n", args[1], o)
		if !o.OK() {
			return 1
		}
	case args[0] == "rekey" && (len(args) == 2 || len(args) == 3):
		kind := "child"
		if len(args) == 3 {
			kind = args[2]
		}
		if err := c.Rekey(ctx, args[1], kind); err != nil {
			fmt.Fprintf(stderr, "ikesvc: %v\n", err)
			return 1
		}
	case args[0] == "terminate" && len(args) == 2:
		if err := c.Terminate(ctx, args[1]); err != nil {
			fmt.Fprintf(stderr, "ikesvc: %v\n", err)
			return 1
		}
	default:
		fmt.Fprintf(stderr, "ikesvc: unknown command %q: want show, crls, initiate PEER, rekey PEER [child|ike|reauth], terminate PEER or save-keys\n", args)
		return 2
	}
	return 0
}
