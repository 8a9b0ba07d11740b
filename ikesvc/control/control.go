// Package control is ikesvc's control socket: a unix socket carrying one
// JSON request per line and one JSON response per line. `show ipsec sa`
// in the CLI and `ikesvc -control SOCKET show` use its Client.
//
//	request:  {"cmd":"show"} | {"cmd":"crls"} | {"cmd":"initiate","peer":"gw2"} | {"cmd":"terminate","peer":"gw2"}
//	          | {"cmd":"rekey","peer":"gw2","kind":"child|ike|reauth"}
//	response: {"sas":[...]} on success of show, {"crl_fetch":{"enabled":true,"urls":[...]}} of crls,
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
)

// Request is one line from a client.
type Request struct {
	Cmd  string `json:"cmd"`
	Peer string `json:"peer,omitempty"`
	Kind string `json:"kind,omitempty"` // of rekey: child, ike or reauth
}

// Response is one line to a client.
type Response struct {
	Error    string    `json:"error,omitempty"`
	SAs      []IKESA   `json:"sas,omitempty"`
	CRLFetch *CRLFetch `json:"crl_fetch,omitempty"`
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
