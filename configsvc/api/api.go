// Package api is configsvc's unix-socket API: the request and reply types
// (net/rpc with gob, stdlib only) and a Client for other programs.
//
// Configurations travel as set-line text (see package settext) and are
// parsed on the client side into *model.Config.
package api

import (
	"fmt"
	"time"
)

// DefaultSocket is where configsvc listens unless told otherwise.
const DefaultSocket = "/run/configsvc.sock"

// ServiceName is the net/rpc service name; methods are ServiceName+".X".
const ServiceName = "Config"

// MaxWait bounds one long-poll call; Client.WaitCommit repeats calls.
const MaxWait = 60 * time.Second

// Code classifies an API error so callers can react without parsing text.
type Code int

// Error codes.
const (
	CodeInternal    Code = iota + 1 // server-side failure (I/O, bug)
	CodeInvalid                     // bad words or values, or a candidate that does not validate
	CodeStale                       // commit based on an old running revision
	CodeNotFound                    // no such revision or session
	CodeNotSet                      // delete of something not configured
	CodeBusy                        // too many edit sessions
	CodeUnavailable                 // configsvc cannot be reached
)

var codeNames = map[Code]string{
	CodeInternal: "internal", CodeInvalid: "invalid", CodeStale: "stale", CodeNotFound: "not-found",
	CodeNotSet: "not-set", CodeBusy: "busy", CodeUnavailable: "unavailable",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is the typed error every API call returns on failure.
type Error struct {
	Code    Code
	Message string // complete and meant for people, e.g. "interfaces eth0 mtu 70000: must be 576..9000"
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code Code) bool {
	e, ok := err.(*Error)
	return ok && e.Code == code
}

// Empty is the argument of calls that take none.
type Empty struct{}

// ConfigReply carries a revision's configuration as set lines.
type ConfigReply struct {
	Revision uint64
	Time     time.Time
	Comment  string
	Text     string
	Err      *Error
}

// WaitArgs asks for the first running revision after After, waiting at
// most Timeout (capped at MaxWait).
type WaitArgs struct {
	After   uint64
	Timeout time.Duration
}

// RevisionArgs names a stored revision.
type RevisionArgs struct{ Revision uint64 }

// RevisionInfo describes one stored revision.
type RevisionInfo struct {
	Revision uint64
	Time     time.Time
	Comment  string
}

// HistoryReply lists kept revisions, newest first, and the running one.
type HistoryReply struct {
	Running   uint64
	Revisions []RevisionInfo
	Err       *Error
}

// CompareArgs compares revision A with revision B.
type CompareArgs struct{ A, B uint64 }

// TextReply is a reply of printable text.
type TextReply struct {
	Text string
	Err  *Error
}

// OpenReply returns a new edit session and the running revision its
// candidate was copied from.
type OpenReply struct {
	Session uint64
	Base    uint64
	Err     *Error
}

// SessionArgs names an edit session.
type SessionArgs struct{ Session uint64 }

// EditArgs carries the words of a set, delete or show command (without
// the command word itself).
type EditArgs struct {
	Session uint64
	Words   []string
}

// CommitArgs commits a session's candidate with a comment.
type CommitArgs struct {
	Session uint64
	Comment string
}

// CommitReply returns the new running revision.
type CommitReply struct {
	Revision uint64
	Err      *Error
}

// RollbackArgs replaces a session's candidate with a stored revision.
type RollbackArgs struct {
	Session  uint64
	Revision uint64
}

// ErrReply is the reply of calls that return only success or an error.
type ErrReply struct{ Err *Error }

// LoadArgs replaces a session's candidate with a whole config in set-line
// text (see package settext).
type LoadArgs struct {
	Session uint64
	Text    string
}

// HostKeyReply carries the SSH host key (OpenSSH PEM; the socket is
// root's only) and its fingerprint, "ED25519 SHA256:...". After
// RegenerateHostKey, Revision is the revision that committed the change.
type HostKeyReply struct {
	Key         []byte
	Fingerprint string
	Revision    uint64
	Err         *Error
}
