package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"strings"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
)

// Client talks to configsvc. It is safe for concurrent use.
type Client struct {
	rpc *rpc.Client
}

// Dial connects to configsvc's socket.
func Dial(socket string) (*Client, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, Errorf(CodeUnavailable, "configsvc is not reachable at %s: %v", socket, err)
	}
	return &Client{rpc: rpc.NewClient(conn)}, nil
}

// Close closes the connection; open sessions stay on the server until they
// expire or are closed.
func (c *Client) Close() error { return c.rpc.Close() }

// call runs method and turns transport failures into CodeUnavailable; the
// reply's own *Error is returned by the callers.
func (c *Client) call(ctx context.Context, method string, args, reply any) error {
	call := c.rpc.Go(ServiceName+"."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		if call.Error != nil {
			if errors.Is(call.Error, rpc.ErrShutdown) || strings.Contains(call.Error.Error(), "EOF") {
				return Errorf(CodeUnavailable, "configsvc connection lost during %s: %v", method, call.Error)
			}
			return Errorf(CodeInternal, "configsvc %s: %v", method, call.Error)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func errOf(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// Snapshot is one running revision as a typed config.
type Snapshot struct {
	RevisionInfo
	Config *model.Config
	Text   string // the config as set lines
}

func snapshot(r *ConfigReply) (*Snapshot, error) {
	cfg, err := settext.ParseString(r.Text)
	if err != nil {
		return nil, Errorf(CodeInternal, "revision %d from configsvc does not parse: %v", r.Revision, err)
	}
	return &Snapshot{RevisionInfo: RevisionInfo{Revision: r.Revision, Time: r.Time, Comment: r.Comment}, Config: cfg, Text: r.Text}, nil
}

// Running returns the running configuration.
func (c *Client) Running(ctx context.Context) (*Snapshot, error) {
	var r ConfigReply
	if err := c.call(ctx, "Running", Empty{}, &r); err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return snapshot(&r)
}

// WaitCommit blocks until the running revision is newer than after and
// returns it. Pass the revision you last applied; it returns at once if a
// newer one is already running. It ends early only with ctx or an error.
func (c *Client) WaitCommit(ctx context.Context, after uint64) (*Snapshot, error) {
	for {
		var r ConfigReply
		if err := c.call(ctx, "Wait", WaitArgs{After: after, Timeout: MaxWait}, &r); err != nil {
			return nil, err
		}
		if r.Err != nil {
			return nil, r.Err
		}
		if r.Revision > after {
			return snapshot(&r)
		}
	}
}

// Revision returns a stored revision.
func (c *Client) Revision(ctx context.Context, n uint64) (*Snapshot, error) {
	var r ConfigReply
	if err := c.call(ctx, "Get", RevisionArgs{Revision: n}, &r); err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return snapshot(&r)
}

// History lists the kept revisions, newest first, and the running one.
func (c *Client) History(ctx context.Context) (running uint64, revs []RevisionInfo, err error) {
	var r HistoryReply
	if err := c.call(ctx, "History", Empty{}, &r); err != nil {
		return 0, nil, err
	}
	return r.Running, r.Revisions, errOf(r.Err)
}

// Compare returns the set-line diff from revision a to revision b.
func (c *Client) Compare(ctx context.Context, a, b uint64) (string, error) {
	var r TextReply
	if err := c.call(ctx, "Compare", CompareArgs{A: a, B: b}, &r); err != nil {
		return "", err
	}
	return r.Text, errOf(r.Err)
}

// Session is an edit session: a private candidate config on the server.
type Session struct {
	c    *Client
	ID   uint64
	Base uint64 // running revision the candidate was copied from
}

// OpenSession starts an edit session with a candidate copied from the
// running config.
func (c *Client) OpenSession(ctx context.Context) (*Session, error) {
	var r OpenReply
	if err := c.call(ctx, "Open", Empty{}, &r); err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return &Session{c: c, ID: r.Session, Base: r.Base}, nil
}

func (s *Session) edit(ctx context.Context, method string, words []string) (string, error) {
	var r TextReply
	if err := s.c.call(ctx, method, EditArgs{Session: s.ID, Words: words}, &r); err != nil {
		return "", err
	}
	return r.Text, errOf(r.Err)
}

// Set applies "set <words>" to the candidate.
func (s *Session) Set(ctx context.Context, words []string) error {
	_, err := s.edit(ctx, "Set", words)
	return err
}

// Delete applies "delete <words>" to the candidate.
func (s *Session) Delete(ctx context.Context, words []string) error {
	_, err := s.edit(ctx, "Delete", words)
	return err
}

// Show returns the candidate's set lines under the path words.
func (s *Session) Show(ctx context.Context, words []string) (string, error) {
	return s.edit(ctx, "Show", words)
}

// Candidate returns the whole candidate config.
func (s *Session) Candidate(ctx context.Context) (*model.Config, error) {
	text, err := s.Show(ctx, nil)
	if err != nil {
		return nil, err
	}
	cfg, err := settext.ParseString(text)
	if err != nil {
		return nil, fmt.Errorf("candidate from configsvc does not parse: %w", err)
	}
	return cfg, nil
}

// Diff returns the changes from the running config to the candidate.
func (s *Session) Diff(ctx context.Context) (string, error) {
	return s.edit(ctx, "Diff", nil)
}

// Commit validates and commits the candidate; on success the session
// continues from the new revision.
func (s *Session) Commit(ctx context.Context, comment string) (uint64, error) {
	var r CommitReply
	if err := s.c.call(ctx, "Commit", CommitArgs{Session: s.ID, Comment: comment}, &r); err != nil {
		return 0, err
	}
	if r.Err != nil {
		return 0, r.Err
	}
	s.Base = r.Revision
	return r.Revision, nil
}

func (s *Session) simple(ctx context.Context, method string, args any) error {
	var r OpenReply
	if err := s.c.call(ctx, method, args, &r); err != nil {
		return err
	}
	if r.Err != nil {
		return r.Err
	}
	s.Base = r.Base
	return nil
}

// Discard replaces the candidate with the current running config.
func (s *Session) Discard(ctx context.Context) error {
	return s.simple(ctx, "Discard", SessionArgs{Session: s.ID})
}

// Rollback replaces the candidate with stored revision n; commit makes it
// running.
func (s *Session) Rollback(ctx context.Context, n uint64) error {
	return s.simple(ctx, "Rollback", RollbackArgs{Session: s.ID, Revision: n})
}

// Close ends the session and drops its candidate.
func (s *Session) Close(ctx context.Context) error {
	var r ErrReply
	if err := s.c.call(ctx, "Close", SessionArgs{Session: s.ID}, &r); err != nil {
		return err
	}
	return errOf(r.Err)
}

// Load replaces the candidate with text, a whole config as set lines.
// Each line is checked as set checks it; commit validates the whole.
func (s *Session) Load(ctx context.Context, text string) error {
	var r ErrReply
	if err := s.c.call(ctx, "Load", LoadArgs{Session: s.ID, Text: text}, &r); err != nil {
		return err
	}
	return errOf(r.Err)
}
