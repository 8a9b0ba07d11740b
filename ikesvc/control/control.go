// Package control is ikesvc's control socket: a unix socket carrying one
// JSON request per line and one JSON response per line. `show ipsec sa`
// in the CLI and `ikesvc -control SOCKET show` use its Client.
//
//	request:  {"cmd":"show"} | {"cmd":"crls"} | {"cmd":"initiate","peer":"gw2"[,"wait_ms":30000]} | {"cmd":"terminate","peer":"gw2"}
//	          | {"cmd":"save-keys"} | {"cmd":"rekey","peer":"gw2","kind":"child|ike|reauth"}
//	response: {"sas":[...]} on success of show, {"crl_fetch":{"enabled":true,"urls":[...]}} of crls,
//	          {"saved_keys":{"dir":"/tmp/ikesvc-keys",...}} of save-keys,
//	          {"outcome":{"peer":"gw2","ike":"...","child":"...","error":"..."}} of initiate with wait_ms,
//	          {} on success otherwise, {"error":"..."} on failure
package control

import (
	"context"

	"alixsec.dev/ikesvc/crlfetch"
	"alixsec.dev/ikesvc/ike"
)

// IKESA and ChildSA are what show returns (see ike.IKESAStatus).
type (
	IKESA   = ike.IKESAStatus
	ChildSA = ike.ChildSAStatus
)

// Commands.
const (
	CmdShow      = "show"
	CmdCRLs      = "crls"
	CmdInitiate  = "initiate"
	CmdTerminate = "terminate"
	CmdRekey     = "rekey"
	CmdSaveKeys  = "save-keys"
)

// Request is one line from a client.
type Request struct {
	Cmd  string `json:"cmd"`
	Peer string `json:"peer,omitempty"`
	Kind string `json:"kind,omitempty"` // of rekey: child, ike or reauth
	// WaitMS, for initiate, asks to wait up to this many milliseconds for
	// the outcome; 0 answers as soon as the handshake has started.
	WaitMS int64 `json:"wait_ms,omitempty"`
}

// Response is one line to a client.
type Response struct {
	Error    string     `json:"error,omitempty"`
	SAs      []IKESA    `json:"sas,omitempty"`
	CRLFetch *CRLFetch  `json:"crl_fetch,omitempty"`
	Keys     *SavedKeys `json:"saved_keys,omitempty"`
	Outcome  *Outcome   `json:"outcome,omitempty"`
}

// SavedKeys is the answer to save-keys: where ikesvc wrote Wireshark's
// key tables and how many SAs they hold (never the keys themselves).
type SavedKeys struct {
	Dir         string   `json:"dir"`
	Files       []string `json:"files"`
	IKE         int      `json:"ike"`
	ESP         int      `json:"esp"`
	Unsupported int      `json:"unsupported,omitempty"` // SAs Wireshark cannot decrypt, left out
}

// KeyService is implemented by a Service that can write Wireshark's key
// tables (ikesvc's daemon: to -save-keys DIR, or to RAM under /tmp).
type KeyService interface {
	SaveKeys() (SavedKeys, error)
}

// Outcome is the answer to initiate with wait_ms (see ike.Outcome).
type Outcome = ike.Outcome

// InitiateWaiter is implemented by a Service that can report how an
// initiation ended (ikesvc's daemon); initiate with wait_ms on another
// Service only starts it.
type InitiateWaiter interface {
	InitiateWait(ctx context.Context, peer string) (Outcome, error)
}

// CRL is one CRL distribution point in the answer to crls.
type CRL = crlfetch.Status

// CRLFetch is the answer to crls: whether ikesvc fetches CRLs from
// distribution points (`set ipsec crl-fetch on`), and the URLs it watches.
type CRLFetch struct {
	Enabled bool  `json:"enabled"`
	URLs    []CRL `json:"urls"`
}

// CRLService is implemented by a Service that can fetch CRLs (ikesvc's
// daemon); crls answers "not enabled" for a Service that does not.
type CRLService interface {
	CRLFetchStatus() CRLFetch
}

// RekeyService is implemented by a Service that can rekey a peer's SAs on
// request (ikesvc's daemon); rekey answers "not supported" otherwise.
type RekeyService interface {
	Rekey(peer string, kind ike.RekeyKind) error
}

// Service is what the socket controls; *ike.Engine implements it.
type Service interface {
	Status(ctx context.Context) []ike.IKESAStatus
	Initiate(peer string) error
	Terminate(peer string) error
}

// MaxLine bounds a request or response line.
const MaxLine = 1 << 20
