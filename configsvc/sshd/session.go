package main

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"alixsec.dev/configsvc/shell"
)

// sessionInfo is one accepted session channel.
type sessionInfo struct {
	conn *ssh.ServerConn
	ch   ssh.Channel
	reqs <-chan *ssh.Request
}

// cliRequest is what a session asked for, handed to the CLI runner.
type cliRequest struct {
	User    string
	In      io.Reader
	Out     io.Writer
	Err     io.Writer // the channel's stderr
	Pty     bool
	Resize  <-chan shell.Size // the pty's size, then each window-change
	Exec    bool              // an exec request; otherwise a shell request
	Command string            // the exec request's command line
}

// Exit statuses of an SSH command.
const (
	exitOK     = 0
	exitFailed = 1 // the CLI command failed (its "% ..." line says why)
	exitError  = 2 // the CLI could not run (configsvc unreachable)
)

// Wire formats of the session requests (RFC 4254 section 6).
type ptyRequest struct {
	Term                          string
	Cols, Rows, WidthPx, HeightPx uint32
	Modes                         string
}

type windowChange struct {
	Cols, Rows, WidthPx, HeightPx uint32
}

type execRequest struct{ Command string }

type exitStatus struct{ Status uint32 }

// runSession answers a session's requests: pty-req and window-change set
// the terminal, the first shell or exec runs the CLI, and its result is
// sent as exit-status before the channel closes.
func (s *Server) runSession(ctx context.Context, si *sessionInfo) {
	defer si.ch.Close()
	resize := make(chan shell.Size, 1)
	req := cliRequest{User: si.conn.User(), In: si.ch, Out: si.ch, Err: si.ch.Stderr(), Resize: resize}
	var done chan uint32
	for {
		select {
		case r, ok := <-si.reqs:
			if !ok {
				return
			}
			s.sessionRequest(ctx, r, &req, resize, &done)
		case status := <-done:
			si.ch.CloseWrite()
			si.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{Status: status}))
			return
		}
	}
}

func (s *Server) sessionRequest(ctx context.Context, r *ssh.Request, req *cliRequest, resize chan shell.Size, done *chan uint32) {
	ok := false
	switch r.Type {
	case "pty-req":
		var p ptyRequest
		if ssh.Unmarshal(r.Payload, &p) == nil && *done == nil {
			req.Pty, ok = true, true
			setSize(resize, shell.Size{Width: int(p.Cols), Height: int(p.Rows)})
		}
	case "window-change":
		var w windowChange
		if ssh.Unmarshal(r.Payload, &w) == nil {
			setSize(resize, shell.Size{Width: int(w.Cols), Height: int(w.Rows)})
			ok = true
		}
	case "shell", "exec":
		if *done != nil {
			break // one program per session
		}
		if r.Type == "exec" {
			var e execRequest
			if ssh.Unmarshal(r.Payload, &e) != nil {
				break
			}
			req.Exec, req.Command = true, e.Command
		}
		ok = true
		*done = make(chan uint32, 1)
		go func(req cliRequest, done chan<- uint32) { done <- s.session(ctx, &req) }(*req, *done)
	}
	if r.WantReply {
		r.Reply(ok, nil)
	}
}

// setSize queues the newest terminal size; an older one not yet taken is
// dropped.
func setSize(resize chan shell.Size, sz shell.Size) {
	select {
	case <-resize:
	default:
	}
	resize <- sz
}

// activity is the time of a connection's last input or output.
type activity struct{ last atomic.Int64 }

func newActivity() *activity {
	a := &activity{}
	a.touch()
	return a
}

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activity) idleFor() time.Duration { return time.Since(time.Unix(0, a.last.Load())) }

// watch calls expire once nothing moved for idle, unless ctx ends first.
func (a *activity) watch(ctx context.Context, idle time.Duration, expire func()) {
	tick := min(max(idle/10, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if a.idleFor() >= idle {
				expire()
				return
			}
		}
	}
}

// activeChannel is a channel whose reads and writes count as activity.
type activeChannel struct {
	ssh.Channel
	act *activity
}

func (c *activeChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	if n > 0 {
		c.act.touch()
	}
	return n, err
}

func (c *activeChannel) Write(p []byte) (int, error) {
	c.act.touch()
	return c.Channel.Write(p)
}
