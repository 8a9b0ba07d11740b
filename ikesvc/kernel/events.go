package kernel

import (
	"fmt"
	"net/netip"
)

// EventKind tells which kernel notification an Event carries.
type EventKind uint8

const (
	// EventAcquire: an out policy with a template matched a packet and no SA
	// exists; ikesvc should negotiate a CHILD_SA for Acquire.
	EventAcquire EventKind = iota + 1
	// EventSoftExpire: an SA reached a soft limit; ikesvc should rekey it.
	EventSoftExpire
	// EventHardExpire: an SA reached a hard limit and the kernel deleted it.
	EventHardExpire
)

func (k EventKind) String() string {
	switch k {
	case EventAcquire:
		return "acquire"
	case EventSoftExpire:
		return "soft-expire"
	case EventHardExpire:
		return "hard-expire"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is one notification from the kernel about an owned policy or SA.
type Event struct {
	Kind    EventKind
	Acquire Acquire // EventAcquire only
	Expire  Expire  // EventSoftExpire, EventHardExpire only
}

// Acquire describes the packet that hit a trap policy.
type Acquire struct {
	Flow     Selector   // the packet: full-length prefixes, its protocol and ports
	Policy   Selector   // the selector of the policy that matched
	Dir      Direction  // of that policy (out)
	Priority uint32     // of that policy
	Src, Dst netip.Addr // the SA endpoints the template asks for
	Mode     Mode
	Reqid    uint32 // the template's reqid: which CHILD_SA config to start
}

// Expire names the SA that hit a lifetime limit.
type Expire struct {
	SA    SAID
	Src   netip.Addr
	Reqid uint32
}
