package ike

import "fmt"

// State is where an IKE SA stands. The transitions:
//
//	initiator:                               responder:
//	  StateIdle                                (IKE_SA_INIT request)
//	    │ CreateInitRequest                        │ ConsumeInitRequest
//	    ▼                                          ▼
//	  StateInitSent ◀──┐ INVALID_KE / COOKIE     StateInitReplied
//	    │ ConsumeInitResponse (retry)               │ ConsumeAuthRequest
//	    ▼                                          │
//	  StateAuthSent                                │
//	    │ ConsumeAuthResponse                      │
//	    ▼                                          ▼
//	  StateEstablished ◀────────────────────────────┘
//	    │ Delete sent / received, retransmissions exhausted, failure
//	    ▼
//	  StateDeleting (our Delete awaits its response)
//	    ▼
//	  StateClosed (removed from the engine; children uninstalled)
//
// Any state goes straight to StateClosed on an authentication failure, a
// fatal notify or retransmission exhaustion.
type State int

const (
	StateIdle State = iota
	StateInitSent
	StateInitReplied
	StateAuthSent
	StateEstablished
	StateDeleting
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateInitSent:
		return "IKE_SA_INIT sent"
	case StateInitReplied:
		return "IKE_SA_INIT replied"
	case StateAuthSent:
		return "IKE_AUTH sent"
	case StateEstablished:
		return "established"
	case StateDeleting:
		return "deleting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}
