package shell

import (
	"context"

	"alixsec.dev/ikesvc/control"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// readSocket connects to a unix socket, sends request (if any) and copies
// everything the peer sends until it closes. missing reports whether the
// service is simply not there (no socket file, or nobody listening).
func (sh *Shell) readSocket(path, request string) (missing bool, err error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return true, err
		}
		return false, fmt.Errorf("connecting to %s: %w", path, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(sh.env.Timeout))
	if request != "" {
		if _, err := io.WriteString(conn, request); err != nil {
			return false, fmt.Errorf("asking %s: %w", path, err)
		}
		if uc, ok := conn.(*net.UnixConn); ok {
			uc.CloseWrite()
		}
	}
	if _, err := io.Copy(sh.out, conn); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return false, nil
}

// ikesvcClient connects to ikesvc's control socket; missing reports that
// ikesvc is not running (no socket, or nobody listening).
func (sh *Shell) ikesvcClient() (c *control.Client, missing bool, err error) {
	c, err = control.Dial(sh.env.IKESocket)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, true, err
		}
		return nil, false, err
	}
	return c, false, nil
}

// dialIkesvc connects to ikesvc for a command that needs it; a daemon
// that is not running is one plain line.
func (sh *Shell) dialIkesvc() (*control.Client, error) {
	c, missing, err := sh.ikesvcClient()
	if missing {
		return nil, errors.New("ikesvc is not running")
	}
	return c, err
}

// showIPsecSA prints ikesvc's IKE and CHILD SAs with the kernel's
// counters.
func (sh *Shell) showIPsecSA(args []string) error {
	c, missing, err := sh.ikesvcClient()
	if missing {
		fmt.Fprintln(sh.out, "ikesvc is not running")
		return nil
	}
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := sh.ctx()
	defer cancel()
	sas, err := c.Show(ctx)
	if err != nil {
		return fmt.Errorf("show ipsec sa: %w", err)
	}
	if len(sas) == 0 {
		fmt.Fprintln(sh.out, "no IKE SAs")
		return nil
	}
	return control.Format(sh.out, sas, time.Now())
}

// showIPsecKernel prints the kernel's XFRM states and policies: what is
// really installed, including what ikesvc does not own.
func (sh *Shell) showIPsecKernel(args []string) error {
	if sh.env.KernelTable == nil {
		return errors.New("show ipsec kernel: not available here")
	}
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := sh.env.KernelTable(ctx, sh.out); err != nil {
		return fmt.Errorf("show ipsec kernel: %w", err)
	}
	return nil
}

// ipsecPeerAction runs initiate or terminate for one peer.
func (sh *Shell) ipsecPeerAction(args []string, what string, do func(*control.Client, context.Context, string) error) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: %s <peer>", what)
	}
	c, err := sh.dialIkesvc()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := sh.ctx()
	defer cancel()
	if err := do(c, ctx, args[0]); err != nil {
		return fmt.Errorf("%s %s: %w", what, args[0], err)
	}
	fmt.Fprintf(sh.out, "%s %s: done\n", what, args[0])
	return nil
}

// DefaultInitiateWait is how long `request ipsec initiate` waits for the
// handshake's outcome: longer than ikesvc's retransmissions of one
// request (0.5+1+2+4+8+16 s), so a silent peer is reported as such.
const DefaultInitiateWait = 35 * time.Second

// initiateIPsec starts a peer's IKE SA and, like swanctl --initiate,
// waits for and prints the outcome: the algorithms, or why it failed.
func (sh *Shell) initiateIPsec(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: initiate <peer>")
	}
	c, err := sh.dialIkesvc()
	if err != nil {
		return err
	}
	defer c.Close()
	wait := sh.env.InitiateWait
	if wait == 0 {
		wait = DefaultInitiateWait
	}
	ctx, cancel := context.WithTimeout(context.Background(), sh.env.Timeout+wait)
	defer cancel()
	o, err := c.InitiateWait(ctx, args[0], wait)
	if err != nil {
		return fmt.Errorf("initiate %s: %w", args[0], err)
	}
	if !o.OK() {
		return fmt.Errorf("initiate %s: %s", args[0], o)
	}
	fmt.Fprintf(sh.out, "initiate %s: %s\n", args[0], o)
	return nil
}

// rekeyIPsec asks ikesvc to rekey a peer's CHILD_SAs, its IKE SA or to
// reauthenticate, now (strongSwan's swanctl --rekey).
func (sh *Shell) rekeyIPsec(args []string) error {
	kind := "child"
	switch {
	case len(args) == 2 && (args[1] == "child" || args[1] == "ike" || args[1] == "reauth"):
		kind = args[1]
	case len(args) != 1:
		return fmt.Errorf("usage: request ipsec rekey <peer> [child|ike|reauth]")
	}
	return sh.ipsecPeerAction(args[:1], "rekey "+kind, func(c *control.Client, ctx context.Context, peer string) error {
		return c.Rekey(ctx, peer, kind)
	})
}

func (sh *Shell) clearIPsecSA(args []string) error {
	return sh.ipsecPeerAction(args, "terminate", (*control.Client).Terminate)
}

// showLog prints the log ring that the log socket sends on connect.
func (sh *Shell) showLog(args []string) error {
	missing, err := sh.readSocket(sh.env.LogSocket, "")
	if missing {
		fmt.Fprintf(sh.out, "the log service is not running (no %s)\n", sh.env.LogSocket)
		return nil
	}
	return err
}
