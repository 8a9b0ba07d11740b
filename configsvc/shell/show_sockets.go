package shell

import (
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

// showIPsecSA asks ikesvc's control socket with the text request
// "show sa\n" and prints its reply until ikesvc closes the connection.
func (sh *Shell) showIPsecSA(args []string) error {
	missing, err := sh.readSocket(sh.env.IKESocket, "show sa\n")
	if missing {
		fmt.Fprintln(sh.out, "ikesvc is not running")
		return nil
	}
	return err
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
