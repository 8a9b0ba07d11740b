// Package server implements configsvc's API (package api) on top of the
// store: read the running config, wait for commits, and edit sessions with
// private candidates.
package server

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
	"alixsec.dev/configsvc/store"
)

// Session limits: a console CLI holds one session; a few more allow a test
// harness or a second login.
const (
	MaxSessions = 8
	SessionIdle = time.Hour // sessions idle this long may be evicted
)

// Server holds the store and the open edit sessions.
type Server struct {
	store *store.Store
	logf  func(format string, args ...any)
	now   func() time.Time

	mu       sync.Mutex
	sessions map[uint64]*session
	nextID   uint64
	changed  chan struct{} // closed and replaced by each commit
}

type session struct {
	candidate *model.Config
	base      uint64
	lastUsed  time.Time
}

// New makes a Server on an open store. logf receives one line per
// commit and per failure worth an admin's attention.
func New(st *store.Store, logf func(format string, args ...any)) *Server {
	return &Server{store: st, logf: logf, now: time.Now, sessions: map[uint64]*session{}, changed: make(chan struct{})}
}

// Serve answers API calls on l until l is closed.
func (s *Server) Serve(l net.Listener) error {
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accepting API connection: %w", err)
		}
		// One handler set per connection, so that the sessions a client
		// opened end when its connection does (a CLI that was killed
		// leaves nothing behind).
		svc := &Service{s: s, owned: map[uint64]bool{}}
		go func() {
			if err := svc.mux().ServeConn(conn); err != nil {
				s.logf("API connection: %v", err)
			}
			s.dropSessions(svc)
		}()
	}
}

// dropSessions ends the sessions a closed connection owned.
func (s *Server) dropSessions(svc *Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range svc.owned {
		delete(s.sessions, id)
	}
}

// SessionCount returns the number of open edit sessions.
func (s *Server) SessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// toAPIError maps package errors to typed API errors.
func toAPIError(err error) *api.Error {
	if err == nil {
		return nil
	}
	var (
		ae      *api.Error
		stale   *store.StaleError
		invalid *store.InvalidError
		pe      *model.PathError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, new(*settext.LineError)):
		return api.Errorf(api.CodeInvalid, "%v", err)
	case errors.As(err, &stale):
		return api.Errorf(api.CodeStale, "%v", err)
	case errors.As(err, &invalid):
		return api.Errorf(api.CodeInvalid, "%v", err)
	case errors.Is(err, model.ErrNotSet):
		return api.Errorf(api.CodeNotSet, "%v", err)
	case errors.As(err, &pe):
		return api.Errorf(api.CodeInvalid, "%v", err)
	case errors.Is(err, store.ErrNotFound):
		return api.Errorf(api.CodeNotFound, "%v", err)
	}
	return api.Errorf(api.CodeInternal, "%v", err)
}

func (s *Server) session(id uint64) (*session, error) {
	se, ok := s.sessions[id]
	if !ok {
		return nil, api.Errorf(api.CodeNotFound, "edit session %d does not exist (expired or closed); enter configure again", id)
	}
	se.lastUsed = s.now()
	return se, nil
}

func (s *Server) openSession() (uint64, uint64, error) {
	run, err := s.store.Running()
	if err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= MaxSessions {
		var oldest uint64
		for id, se := range s.sessions {
			if s.now().Sub(se.lastUsed) >= SessionIdle && (oldest == 0 || se.lastUsed.Before(s.sessions[oldest].lastUsed)) {
				oldest = id
			}
		}
		if oldest == 0 {
			return 0, 0, api.Errorf(api.CodeBusy, "too many edit sessions (%d open); exit another configure session first", len(s.sessions))
		}
		delete(s.sessions, oldest)
	}
	s.nextID++
	s.sessions[s.nextID] = &session{candidate: run.Config, base: run.Number, lastUsed: s.now()}
	return s.nextID, run.Number, nil
}

func (s *Server) commit(id uint64, comment string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, err := s.session(id)
	if err != nil {
		return 0, err
	}
	n, err := s.store.Commit(se.base, se.candidate, comment)
	if err != nil {
		return 0, err
	}
	se.base = n
	se.candidate = se.candidate.Clone()
	close(s.changed)
	s.changed = make(chan struct{})
	s.logf("committed revision %d (%q)", n, comment)
	return n, nil
}

// waitAfter returns once the running revision exceeds after or timeout
// passes, with the running revision at that time.
func (s *Server) waitAfter(after uint64, timeout time.Duration) (*store.Revision, error) {
	if timeout <= 0 || timeout > api.MaxWait {
		timeout = api.MaxWait
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		run, err := s.store.Running()
		if err != nil || run.Number > after {
			return run, err
		}
		select {
		case <-ch:
		case <-t.C:
			return run, nil
		}
	}
}

func configReply(r *store.Revision, err error, reply *api.ConfigReply) error {
	if err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	*reply = api.ConfigReply{Revision: r.Number, Time: r.Time, Comment: r.Comment, Text: string(settext.Format(r.Config))}
	return nil
}

// showText prints the candidate's lines under words, or says why not.
func showText(cfg *model.Config, words []string) (string, error) {
	if err := model.CheckPath(words); err != nil {
		return "", err
	}
	lines := settext.FormatLines(cfg, words)
	if len(lines) == 0 {
		if len(words) == 0 {
			return "", nil
		}
		return "", &model.PathError{Path: words, Err: model.ErrNotSet}
	}
	return strings.Join(lines, "\n") + "\n", nil
}
