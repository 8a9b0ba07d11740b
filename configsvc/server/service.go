package server

import (
	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/gobrpc"
	"alixsec.dev/configsvc/settext"
)

// Service answers one connection's calls; each exported method is one API
// call, registered by mux under api.ServiceName.
// Failures go into the reply's Err as *api.Error, so the transport error
// stays reserved for transport problems.
type Service struct {
	s     *Server
	owned map[uint64]bool // sessions opened on this connection; guarded by s.mu
}

// mux registers v's methods for net/rpc clients (api.Client). gobrpc
// rather than net/rpc's server: see its package comment (reflective calls
// crash Go on 386).
func (v *Service) mux() *gobrpc.Mux {
	m := gobrpc.NewMux()
	name := func(method string) string { return api.ServiceName + "." + method }
	gobrpc.Handle(m, name("Running"), v.Running)
	gobrpc.Handle(m, name("Wait"), v.Wait)
	gobrpc.Handle(m, name("Get"), v.Get)
	gobrpc.Handle(m, name("History"), v.History)
	gobrpc.Handle(m, name("Compare"), v.Compare)
	gobrpc.Handle(m, name("Open"), v.Open)
	gobrpc.Handle(m, name("Set"), v.Set)
	gobrpc.Handle(m, name("Delete"), v.Delete)
	gobrpc.Handle(m, name("Show"), v.Show)
	gobrpc.Handle(m, name("Diff"), v.Diff)
	gobrpc.Handle(m, name("Commit"), v.Commit)
	gobrpc.Handle(m, name("Discard"), v.Discard)
	gobrpc.Handle(m, name("Rollback"), v.Rollback)
	gobrpc.Handle(m, name("Close"), v.Close)
	gobrpc.Handle(m, name("Load"), v.Load)
	gobrpc.Handle(m, name("HostKey"), v.HostKey)
	gobrpc.Handle(m, name("RegenerateHostKey"), v.RegenerateHostKey)
	return m
}

// Running returns the running configuration.
func (v *Service) Running(_ api.Empty, reply *api.ConfigReply) error {
	r, err := v.s.store.Running()
	return configReply(r, err, reply)
}

// Wait long-polls for a running revision newer than args.After.
func (v *Service) Wait(args api.WaitArgs, reply *api.ConfigReply) error {
	r, err := v.s.waitAfter(args.After, args.Timeout)
	return configReply(r, err, reply)
}

// Get returns a stored revision.
func (v *Service) Get(args api.RevisionArgs, reply *api.ConfigReply) error {
	r, err := v.s.store.Get(args.Revision)
	return configReply(r, err, reply)
}

// History lists kept revisions, newest first.
func (v *Service) History(_ api.Empty, reply *api.HistoryReply) error {
	run, err := v.s.store.Running()
	if err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	h, err := v.s.store.History()
	if err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	reply.Running = run.Number
	for _, i := range h {
		reply.Revisions = append(reply.Revisions, api.RevisionInfo{Revision: i.Number, Time: i.Time, Comment: i.Comment})
	}
	return nil
}

// Compare diffs two stored revisions.
func (v *Service) Compare(args api.CompareArgs, reply *api.TextReply) error {
	d, err := v.s.store.Compare(args.A, args.B)
	reply.Text, reply.Err = settext.DiffText(d), toAPIError(err)
	return nil
}

// Open starts an edit session.
func (v *Service) Open(_ api.Empty, reply *api.OpenReply) error {
	id, base, err := v.s.openSession()
	if err == nil {
		v.s.mu.Lock()
		v.owned[id] = true
		v.s.mu.Unlock()
	}
	reply.Session, reply.Base, reply.Err = id, base, toAPIError(err)
	return nil
}

// withSession runs edit on a session's candidate under the store lock and
// puts its error into the reply's API error.
func (v *Service) withSession(id uint64, reply *api.TextReply, edit func(*session) error) error {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	se, err := v.s.session(id)
	if err == nil {
		err = edit(se)
	}
	reply.Err = toAPIError(err)
	return nil
}

// Set applies a set command to a session's candidate.
func (v *Service) Set(args api.EditArgs, reply *api.TextReply) error {
	return v.withSession(args.Session, reply, func(se *session) error { return se.candidate.Set(args.Words) })
}

// Delete applies a delete command to a session's candidate.
func (v *Service) Delete(args api.EditArgs, reply *api.TextReply) error {
	return v.withSession(args.Session, reply, func(se *session) error { return se.candidate.Delete(args.Words) })
}

// Show prints a session's candidate under a path.
func (v *Service) Show(args api.EditArgs, reply *api.TextReply) error {
	return v.withSession(args.Session, reply, func(se *session) (err error) {
		reply.Text, err = showText(se.candidate, args.Words)
		return err
	})
}

// Diff shows the changes from running to a session's candidate.
func (v *Service) Diff(args api.EditArgs, reply *api.TextReply) error {
	run, err := v.s.store.Running()
	if err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	se, err := v.s.session(args.Session)
	if err == nil {
		reply.Text = settext.DiffText(settext.Diff(run.Config, se.candidate))
	}
	reply.Err = toAPIError(err)
	return nil
}

// Commit validates and commits a session's candidate.
func (v *Service) Commit(args api.CommitArgs, reply *api.CommitReply) error {
	n, err := v.s.commit(args.Session, args.Comment)
	reply.Revision, reply.Err = n, toAPIError(err)
	return nil
}

// Discard resets a session's candidate to the running config.
func (v *Service) Discard(args api.SessionArgs, reply *api.OpenReply) error {
	run, err := v.s.store.Running()
	if err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	se, err := v.s.session(args.Session)
	if err == nil {
		se.candidate, se.base = run.Config, run.Number
	}
	reply.Session, reply.Base, reply.Err = args.Session, run.Number, toAPIError(err)
	return nil
}

// Rollback makes a session's candidate a copy of a stored revision. The
// candidate replaces everything, so its base becomes the current running
// revision.
func (v *Service) Rollback(args api.RollbackArgs, reply *api.OpenReply) error {
	old, err := v.s.store.Get(args.Revision)
	if err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	run, err := v.s.store.Running()
	if err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	se, err := v.s.session(args.Session)
	if err == nil {
		se.candidate, se.base = old.Config, run.Number
	}
	reply.Session, reply.Base, reply.Err = args.Session, run.Number, toAPIError(err)
	return nil
}

// Close ends a session.
func (v *Service) Close(args api.SessionArgs, reply *api.ErrReply) error {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	if _, err := v.s.session(args.Session); err != nil {
		reply.Err = toAPIError(err)
		return nil
	}
	delete(v.s.sessions, args.Session)
	delete(v.owned, args.Session)
	return nil
}

// Load replaces a session's candidate with a set-line text.
func (v *Service) Load(args api.LoadArgs, reply *api.ErrReply) error {
	cfg, err := settext.ParseString(args.Text)
	if err != nil {
		reply.Err = api.Errorf(api.CodeInvalid, "%v", err)
		return nil
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	se, err := v.s.session(args.Session)
	if err == nil {
		se.candidate = cfg
	}
	reply.Err = toAPIError(err)
	return nil
}
