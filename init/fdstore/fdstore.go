// Package fdstore keeps a service's file descriptors (its sockets) alive
// across its restarts, in the manner of systemd's file descriptor store
// (FDSTORE=1 over sd_notify, LISTEN_FDS and LISTEN_FDNAMES on the next
// start), without a notify socket path: the supervisor hands the service
// one end of a socket pair.
//
// The supervisor (init) keeps a Store per service that asks for one. On
// each start, Begin passes the stored descriptors as the first inherited
// files (descriptor 3 on, named in LISTEN_FDNAMES) and the socket pair's
// end after them (ALIXSEC_FDSTORE_FD). The service, which knows what the
// descriptors are, sends its current set over that socket whenever it
// changes (Client.Replace): one message, the names in its text and the
// descriptors as SCM_RIGHTS. The store holds its own duplicates in memory,
// so a crash or SIGKILL of the service loses nothing: the next start gets
// the same open sockets back. The store never looks at what it keeps.
package fdstore

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The environment of a service with a store. LISTEN_FDS and
// LISTEN_FDNAMES are systemd's (descriptors from 3 on, names separated by
// colons); LISTEN_PID is left out: the service's own start reads them.
const (
	EnvListenFDs     = "LISTEN_FDS"
	EnvListenFDNames = "LISTEN_FDNAMES"
	EnvStoreFD       = "ALIXSEC_FDSTORE_FD"
	firstFD          = 3
	// maxFDs is the kernel's SCM_MAX_FD: the most one message carries.
	maxFDs = 253
)

// File is one stored descriptor and its name.
type File struct {
	Name string
	File *os.File
}

// Store is the supervisor's side: the descriptors one service handed
// over, kept across its runs (in memory only). The zero Store is empty
// and ready.
type Store struct {
	mu    sync.Mutex
	files []File
}

// Len is the number of descriptors kept.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

// Names lists the kept descriptors' names in order.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, len(s.files))
	for i, f := range s.files {
		names[i] = f.Name
	}
	return names
}

// replace makes files the kept set and closes the previous one (after
// taking the new: a socket in both stays open throughout).
func (s *Store) replace(files []File) {
	s.mu.Lock()
	old := s.files
	s.files = files
	s.mu.Unlock()
	closeAll(old)
}

// Drop closes every kept descriptor: the service is gone for good (it
// asked not to be restarted, or the system shuts down).
func (s *Store) Drop() {
	s.replace(nil)
}

func closeAll(files []File) {
	for _, f := range files {
		f.File.Close()
	}
}

// Session is the store's side of one run of the service.
type Session struct {
	store *Store
	conn  *net.UnixConn
	child *os.File // the service's end, until it started
	extra []*os.File
	env   []string
	done  chan struct{}
	err   error // the first bad message, read after done
}

// Begin prepares one start of the service: the files to pass it
// (ExtraFiles) and the environment naming them (Env). The caller starts
// the process, then calls Started, and End once it exited.
func (s *Store) Begin() (*Session, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fd store: socket pair: %w", err)
	}
	child := os.NewFile(uintptr(fds[1]), "fdstore-service")
	parent := os.NewFile(uintptr(fds[0]), "fdstore")
	c, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		child.Close()
		return nil, fmt.Errorf("fd store: %w", err)
	}
	sess := &Session{store: s, conn: c.(*net.UnixConn), child: child, done: make(chan struct{})}
	s.mu.Lock()
	names := make([]string, len(s.files))
	for i, f := range s.files {
		sess.extra = append(sess.extra, f.File)
		names[i] = f.Name
	}
	s.mu.Unlock()
	sess.extra = append(sess.extra, child)
	sess.env = []string{
		EnvListenFDs + "=" + strconv.Itoa(len(names)),
		EnvListenFDNames + "=" + strings.Join(names, ":"),
		EnvStoreFD + "=" + strconv.Itoa(firstFD+len(names)),
	}
	return sess, nil
}

// ExtraFiles are the files for exec.Cmd.ExtraFiles: the kept descriptors
// (3 on), then the service's end of the store socket.
func (sess *Session) ExtraFiles() []*os.File { return sess.extra }

// Env is the environment to add for the service.
func (sess *Session) Env() []string { return sess.env }

// Started closes the service's end in the supervisor, after the start (or
// its failure): once the service exits, the store reads end of file. Only
// now does the store read what the service sends, so that the files
// being passed to it are not replaced under exec.
func (sess *Session) Started() {
	if sess.child != nil {
		sess.child.Close()
		sess.child = nil
		go sess.receive()
	}
}

// End waits, at most wait, for the messages the exited service left in
// the socket to be read, then closes the session. It returns the first
// message that could not be used.
func (sess *Session) End(wait time.Duration) error {
	sess.Started()
	// A descendant holding the service's end would keep the socket open:
	// bound the wait.
	sess.conn.SetReadDeadline(time.Now().Add(wait))
	<-sess.done
	sess.conn.Close()
	return sess.err
}

func (sess *Session) receive() {
	defer close(sess.done)
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	for {
		n, oobn, flags, _, err := sess.conn.ReadMsgUnix(buf, oob)
		files, ferr := receivedFiles(oob[:oobn])
		if err != nil || (n == 0 && len(files) == 0) {
			closeAll(files)
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
				sess.fail(fmt.Errorf("fd store: reading: %w", err))
			}
			return
		}
		if ferr == nil && flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			ferr = errors.New("message truncated")
		}
		if ferr == nil {
			ferr = nameFiles(string(buf[:n]), files)
		}
		if ferr != nil {
			closeAll(files)
			sess.fail(fmt.Errorf("fd store: message ignored: %w", ferr))
			continue
		}
		sess.store.replace(files)
	}
}

func (sess *Session) fail(err error) {
	if sess.err == nil {
		sess.err = err
	}
}

// receivedFiles turns the SCM_RIGHTS of a message into files (close on
// exec: only the supervisor's deliberate ExtraFiles pass them on).
func receivedFiles(oob []byte) ([]File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var files []File
	var perr error
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			perr = fmt.Errorf("control message: %w", err)
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, File{File: os.NewFile(uintptr(fd), "stored")})
		}
	}
	return files, perr
}

// nameFiles checks a message's text against the descriptors it carried
// and names them.
func nameFiles(text string, files []File) error {
	var names []string
	stored := false
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "FDSTORE":
			stored = v == "1"
		case "FDNAME":
			if v != "" {
				names = strings.Split(v, ":")
			}
		}
	}
	if !stored {
		return fmt.Errorf("%q: no FDSTORE=1", text)
	}
	if len(names) != len(files) {
		return fmt.Errorf("%d names for %d descriptors", len(names), len(files))
	}
	for i := range files {
		files[i].Name = names[i]
	}
	return nil
}

// Named is one descriptor a service stores: anything with a raw
// descriptor (a *net.UDPConn, an *os.File).
type Named struct {
	Name string
	Conn syscall.Conn
}

// Client is the service's side.
type Client struct {
	conn *net.UnixConn
}

// Inherit reads what the supervisor passed: the store's client (nil when
// the service runs without one, as on a host) and the descriptors kept
// from earlier runs, which the caller now owns. getenv is os.Getenv; the
// caller should unset the variables, which name this process's
// descriptors only.
func Inherit(getenv func(string) string) (*Client, []File, error) {
	storeFD := getenv(EnvStoreFD)
	if storeFD == "" {
		return nil, nil, nil
	}
	sfd, err := strconv.Atoi(storeFD)
	if err != nil || sfd < firstFD {
		return nil, nil, fmt.Errorf("fd store: %s=%q: not a descriptor", EnvStoreFD, storeFD)
	}
	var files []File
	if n, _ := strconv.Atoi(getenv(EnvListenFDs)); n > 0 {
		names := strings.Split(getenv(EnvListenFDNames), ":")
		for i := range n {
			fd := firstFD + i
			name := "unknown"
			if i < len(names) && names[i] != "" {
				name = names[i]
			}
			unix.CloseOnExec(fd)
			files = append(files, File{Name: name, File: os.NewFile(uintptr(fd), name)})
		}
	}
	unix.CloseOnExec(sfd)
	f := os.NewFile(uintptr(sfd), "fdstore")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, files, fmt.Errorf("fd store: descriptor %d: %w", sfd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, files, fmt.Errorf("fd store: descriptor %d is no unix socket", sfd)
	}
	return &Client{conn: uc}, files, nil
}

// Replace hands the store the service's whole current set: it keeps
// these and drops what it held before.
func (c *Client) Replace(set []Named) error {
	if len(set) > maxFDs {
		return fmt.Errorf("fd store: %d descriptors, at most %d", len(set), maxFDs)
	}
	names := make([]string, 0, len(set))
	fds := make([]int, 0, len(set))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, n := range set {
		if n.Name == "" || strings.ContainsAny(n.Name, ":\n=") {
			return fmt.Errorf("fd store: name %q: want a word without ':' or '='", n.Name)
		}
		fd, err := dup(n.Conn)
		if err != nil {
			return fmt.Errorf("fd store: %s: %w", n.Name, err)
		}
		names = append(names, n.Name)
		fds = append(fds, fd)
	}
	msg := "FDSTORE=1\nFDNAME=" + strings.Join(names, ":") + "\n"
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.conn.WriteMsgUnix([]byte(msg), oob, nil); err != nil {
		return fmt.Errorf("fd store: sending %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// Close closes the client's socket (the store keeps what it got).
func (c *Client) Close() error { return c.conn.Close() }

// dup duplicates c's descriptor (the duplicate is close on exec).
func dup(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return nfd, derr
}
