package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"alixsec.dev/configsvc/hostkey"
	"alixsec.dev/configsvc/model"
)

// Connection limits. A board has a few admins and their scripts; more
// connections than this at once are an attack or a runaway loop.
const (
	maxConns         = 10
	maxChannels      = 4 // sessions per connection
	handshakeTimeout = 30 * time.Second
	revokeGrace      = 2 * time.Second // from a key's removal to the end of its sessions
)

// Server is the SSH server: listeners that follow the config, the
// current policy and host key, and the open connections.
type Server struct {
	logf    func(format string, args ...any)
	limiter *limiter
	// listen opens a listener (listenFreebind outside tests).
	listen func(addr string) (net.Listener, error)
	// session runs one session channel (the CLI, see session.go).
	session func(ctx context.Context, req *cliRequest) uint32
	// idleUnit is one minute of system ssh idle-timeout (tests shrink it).
	idleUnit time.Duration

	mu        sync.Mutex
	pol       *policy
	signer    ssh.Signer
	idle      time.Duration
	listeners map[string]net.Listener
	conns     map[*ssh.ServerConn]*connInfo
	slots     chan struct{} // one per TCP connection, across all listeners
}

type connInfo struct {
	keyName string
	key     []byte // marshalled public key that logged in
	revoked bool   // the key was removed; closing soon
}

func newServer(logf func(string, ...any)) *Server {
	return &Server{
		logf:      logf,
		limiter:   newLimiter(time.Now),
		listen:    listenFreebind,
		idleUnit:  time.Minute,
		pol:       &policy{},
		listeners: map[string]net.Listener{},
		conns:     map[*ssh.ServerConn]*connInfo{},
		slots:     make(chan struct{}, maxConns),
	}
}

// listenAddrs is where cfg says to listen: nothing while no key is
// authorized.
func listenAddrs(cfg *model.SSH) []string {
	if !cfg.Enabled() {
		return nil
	}
	port := strconv.Itoa(cfg.PortOrDefault())
	if len(cfg.ListenAddresses) == 0 {
		return []string{net.JoinHostPort("", port)}
	}
	var out []string
	for _, a := range cfg.ListenAddresses {
		out = append(out, net.JoinHostPort(a.String(), port))
	}
	sort.Strings(out)
	return out
}

// Apply makes the server follow a running config and host key: new
// connections use the new policy and key, listeners open and close to
// match, and sessions whose key is no longer authorized end.
func (s *Server) Apply(cfg *model.SSH, hostKey []byte) error {
	pol, err := newPolicy(cfg)
	if err != nil {
		return err
	}
	signer, err := hostkey.Signer(hostKey)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, a := range listenAddrs(cfg) {
		want[a] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pol, s.signer, s.idle = pol, signer, time.Duration(cfg.IdleMinutes())*s.idleUnit
	for addr, l := range s.listeners {
		if !want[addr] {
			l.Close()
			delete(s.listeners, addr)
			s.logf("stopped listening on %s", addr)
		}
	}
	var errs []error
	for addr := range want {
		if s.listeners[addr] != nil {
			continue
		}
		l, err := s.listen(addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("listening on %s: %w", addr, err))
			continue
		}
		s.listeners[addr] = l
		s.logf("listening on %s (host key %s, %d authorized keys)", l.Addr(), hostkey.Describe(signer.PublicKey()), len(pol.keys))
		go s.serve(l)
	}
	for c, info := range s.conns {
		if !pol.allows(info.keyName, info.key) && !info.revoked {
			// The grace lets the command that made the change (a load
			// over this very session) report its exit status.
			info.revoked = true
			s.logf("closing the session of %s from %s: key %s is no longer authorized", c.User(), c.RemoteAddr(), info.keyName)
			time.AfterFunc(revokeGrace, func() { c.Close() })
		}
	}
	return errors.Join(errs...)
}

// Addrs returns the listeners' addresses (for tests and the log).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Close stops listening and ends every connection.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, l := range s.listeners {
		l.Close()
		delete(s.listeners, addr)
	}
	for c := range s.conns {
		c.Close()
	}
}

// Shutdown stops listening, gives the open connections up to grace to
// end by themselves, then ends the rest. A command that reboots the
// board (request system upgrade, reboot) signals init before its session
// sends the exit status: without the grace, init's SIGTERM to sshd could
// cut the connection first and the client would see a lost connection
// instead of the command's success.
func (s *Server) Shutdown(grace time.Duration) {
	s.mu.Lock()
	for addr, l := range s.listeners {
		l.Close()
		delete(s.listeners, addr)
	}
	s.mu.Unlock()
	for deadline := time.Now().Add(grace); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			break
		}
	}
	s.Close()
}

func (s *Server) serve(l net.Listener) {
	for {
		nc, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.logf("accept on %s: %v", l.Addr(), err)
			}
			return
		}
		select {
		case s.slots <- struct{}{}:
			go func() {
				defer func() { <-s.slots }()
				s.handle(nc)
			}()
		default:
			s.logf("refused a connection from %s: %d connections open", nc.RemoteAddr(), maxConns)
			nc.Close()
		}
	}
}

func remoteAddr(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// handle runs one TCP connection: rate limit, handshake, sessions.
func (s *Server) handle(nc net.Conn) {
	defer nc.Close()
	src := remoteAddr(nc)
	v := s.limiter.admit(src)
	if v.blocked {
		s.logf("refused a connection from %s: too many failed logins or handshakes in progress", src)
		return
	}
	if v.wait > 0 {
		time.Sleep(v.wait)
	}
	s.mu.Lock()
	pol, signer, idle := s.pol, s.signer, s.idle
	s.mu.Unlock()
	rec := &attempts{}
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(nc, serverConfig(pol, signer, rec))
	v.release()
	if err != nil {
		if rec.any() {
			n, blocked := s.limiter.failed(src)
			what := fmt.Sprintf("next try delayed %v", penalty(n))
			if blocked {
				what = fmt.Sprintf("blocked for %v", blockFor)
			}
			s.logf("login refused from %s: %s (%d failures from this source, %s)", src, rec, n, what)
		}
		return
	}
	nc.SetDeadline(time.Time{})
	s.limiter.succeeded(src)
	info := &connInfo{keyName: conn.Permissions.Extensions[extKeyName], key: []byte(conn.Permissions.Extensions[extKeyMarshalled])}
	s.mu.Lock()
	stale := !s.pol.allows(info.keyName, info.key) // removed during the handshake
	if !stale {
		s.conns[conn] = info
	}
	s.mu.Unlock()
	if stale {
		conn.Close()
		return
	}
	s.logf("login of %s from %s with key %s (%s)", conn.User(), src, info.keyName, conn.Permissions.Extensions[extKeyFingerprint])
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		s.logf("logout of %s from %s", conn.User(), src)
	}()
	s.serveConn(conn, chans, reqs, idle)
}

// serveConn runs a logged-in connection's session channels until it
// closes or stays idle for idle.
func (s *Server) serveConn(conn *ssh.ServerConn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, idle time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	act := newActivity()
	go act.watch(ctx, idle, func() {
		s.logf("closing the session of %s from %s: idle for %v", conn.User(), conn.RemoteAddr(), idle)
		conn.Close()
	})
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	open := make(chan struct{}, maxChannels)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only session channels (the CLI) are offered")
			continue
		}
		select {
		case open <- struct{}{}:
		default:
			nch.Reject(ssh.ResourceShortage, fmt.Sprintf("at most %d sessions per connection", maxChannels))
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			<-open
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-open }()
			si := &sessionInfo{conn: conn, ch: &activeChannel{Channel: ch, act: act}, reqs: creqs}
			s.runSession(ctx, si)
		}()
	}
}
