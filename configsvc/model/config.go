// Package model holds the appliance's typed configuration and the schema
// derived from it. The schema (built from the `cfg` struct tags below) is the
// single source for the set-line syntax, per-value checks, CLI completion and
// help, so a field added here is immediately settable, printable and
// documented.
//
// Tag grammar on a field:
//
//	cfg:"word"    the path word in set lines
//	type:"name"   the value type of a leaf, leaf list or tag node value (see types.go)
//	key:"name"    the value type of a tag node's key (maps only)
//	help:"text"   one line shown by `?` in the CLI
//
// Field kinds: struct (a container), map[string]*Struct (a tag node whose
// entries are containers), map[string]string (a tag node whose entries hold
// one value), and leaves of kind string, int, bool, netip.Addr, netip.Prefix
// or a slice of them (an ordered leaf list). A zero value means "not set".
package model

import "net/netip"

// Defaults that consumers apply when a leaf is not set. They live here so
// that configsvc, ikesvc and init agree and SCHEMA.md can quote them.
const (
	DefaultHostname      = "alixsec"
	DefaultMTU           = 1500
	DefaultDPDInterval   = 30   // seconds
	DefaultRekeyTime     = 3600 // seconds, CHILD_SA rekey
	DefaultStartAction   = StartTrap
	DefaultMode          = ModeTunnel
	DefaultCRLMode       = CRLRelaxed
	DefaultIKEProposal   = "aes128-sha256-modp2048"
	DefaultESPProposal   = "aes128-sha256-modp2048"
	DefaultConsoleDevice = "ttyS0"
	DefaultConsoleSpeed  = 38400
	DefaultSSHPort       = 22
	DefaultSSHIdle       = 15 // minutes
)

// IKE SA lifetime defaults (DefaultDPDAction, a function of the start
// action, is with the DPDAction type).
const (
	DefaultIKERekeyTime = 14400 // seconds, IKE SA rekey (strongSwan's 4 h)
	DefaultReauthTime   = "0"   // seconds; 0: no reauthentication
)

// Config is one whole configuration: what a revision stores.
type Config struct {
	System     System                `cfg:"system" help:"host name, time, logging and console"`
	Interfaces map[string]*Interface `cfg:"interfaces" key:"ifname" help:"network interfaces by kernel name"`
	Routes     map[string]*Route     `cfg:"routes" key:"prefix" help:"static routes by destination prefix"`
	IPsec      IPsec                 `cfg:"ipsec" help:"IKEv2/IPsec identity, trust, proposals and peers"`
	PKI        PKI                   `cfg:"pki" help:"named PEM keys, certificates, CA certificates and CRLs"`
}

// System holds host-wide settings.
type System struct {
	Hostname    string   `cfg:"hostname" type:"hostname" help:"host name, also shown in the CLI prompt"`
	TimeZone    string   `cfg:"time-zone" type:"timezone" help:"IANA time zone name, e.g. Europe/Zurich"`
	NTPServers  []string `cfg:"ntp-server" type:"host" help:"NTP server name or address (repeatable)"`
	SyslogHost  string   `cfg:"syslog-host" type:"hostport" help:"remote syslog receiver, host or host:port (UDP 514)"`
	Console     Console  `cfg:"console" help:"serial console settings"`
	SSH         SSH      `cfg:"ssh" help:"SSH server with the CLI (off until an authorized key is set)"`
	Description string   `cfg:"description" type:"text" help:"free text describing this appliance"`
}

// Console configures the serial console and its optional password.
type Console struct {
	Device       string `cfg:"device" type:"ttyname" help:"console tty device name, e.g. ttyS0"`
	Speed        int    `cfg:"speed" type:"baud" help:"console speed in baud"`
	PasswordHash string `cfg:"password-hash" type:"bcrypt" help:"bcrypt hash of the console password; unset means no password"`
}

// Interface configures one network interface.
type Interface struct {
	Description string         `cfg:"description" type:"text" help:"free text describing the interface"`
	Addresses   []netip.Prefix `cfg:"address" type:"ifaddr" help:"IPv4 or IPv6 address with prefix length (repeatable)"`
	MTU         int            `cfg:"mtu" type:"mtu" help:"maximum transmission unit in bytes"`
}

// Route is one static route; its destination is the map key.
type Route struct {
	NextHop   netip.Addr `cfg:"next-hop" type:"ipaddr" help:"gateway address"`
	Interface string     `cfg:"interface" type:"ifname" help:"outgoing interface (for on-link routes)"`
	Metric    int        `cfg:"metric" type:"metric" help:"route metric (priority)"`
}

// IPsec holds the local IKE identity, trust anchors, default proposals and
// the peers.
type IPsec struct {
	LocalID        string           `cfg:"local-id" type:"identity" help:"local IKE identity: DN, FQDN, email or IP address"`
	Key            string           `cfg:"key" type:"name" help:"name of the private key in pki key"`
	Certificate    string           `cfg:"certificate" type:"name" help:"name of the local certificate in pki certificate"`
	CACertificates []string         `cfg:"ca-certificate" type:"name" help:"trusted CA by name in pki ca-certificate (repeatable)"`
	CRLs           []string         `cfg:"crl" type:"name" help:"CRL by name in pki crl (repeatable)"`
	CRLMode        CRLMode          `cfg:"crl-mode" type:"crl-mode" help:"strict: fail without a valid CRL; relaxed: accept when no CRL is available"`
	CRLFetch       bool             `cfg:"crl-fetch" type:"on-off" help:"fetch CRLs from certificates' distribution points"`
	IKEProposals   []string         `cfg:"ike-proposal" type:"ike-proposal" help:"default IKE proposal, strongSwan syntax (repeatable, in preference order)"`
	ESPProposals   []string         `cfg:"esp-proposal" type:"esp-proposal" help:"default ESP proposal, strongSwan syntax (repeatable, in preference order)"`
	IKERekeyTime   int              `cfg:"ike-rekey-time" type:"rekey-seconds" help:"default IKE SA rekey time in seconds"`
	ReauthTime     string           `cfg:"reauth-time" type:"reauth-time" help:"default IKE reauthentication time in seconds"`
	Peers          map[string]*Peer `cfg:"peer" key:"name" help:"IKE peers by name"`
}

// Peer is one IKE peer with its single CHILD_SA.
type Peer struct {
	Address         netip.Addr     `cfg:"address" type:"ipaddr" help:"peer IPv4 or IPv6 address; unset: respond only"`
	RemoteID        string         `cfg:"remote-id" type:"identity" help:"exact remote identity: DN, FQDN, email or IP address"`
	RemoteIDPattern string         `cfg:"remote-id-pattern" type:"dn-pattern" help:"remote DN pattern; a value of * matches any value of that attribute"`
	LocalID         string         `cfg:"local-id" type:"identity" help:"local identity for this peer (overrides ipsec local-id)"`
	Mode            Mode           `cfg:"mode" type:"mode" help:"IPsec mode"`
	LocalTS         []netip.Prefix `cfg:"local-ts" type:"cidr" help:"local traffic selector, network prefix (repeatable)"`
	RemoteTS        []netip.Prefix `cfg:"remote-ts" type:"cidr" help:"remote traffic selector, network prefix (repeatable)"`
	IKEProposals    []string       `cfg:"ike-proposal" type:"ike-proposal" help:"IKE proposal for this peer (repeatable; overrides ipsec ike-proposal)"`
	ESPProposals    []string       `cfg:"esp-proposal" type:"esp-proposal" help:"ESP proposal for this peer (repeatable; overrides ipsec esp-proposal)"`
	DPDInterval     int            `cfg:"dpd-interval" type:"dpd-seconds" help:"dead peer detection interval in seconds"`
	RekeyTime       int            `cfg:"rekey-time" type:"rekey-seconds" help:"CHILD_SA rekey time in seconds"`
	StartAction     StartAction    `cfg:"start-action" type:"start-action" help:"what to do at start: none, start (initiate) or trap (initiate on traffic)"`
	IKERekeyTime    int            `cfg:"ike-rekey-time" type:"rekey-seconds" help:"IKE SA rekey time in seconds (overrides ipsec ike-rekey-time)"`
	ReauthTime      string         `cfg:"reauth-time" type:"reauth-time" help:"IKE reauthentication time in seconds (overrides ipsec reauth-time)"`
	DPDAction       DPDAction      `cfg:"dpd-action" type:"dpd-action" help:"what to do when DPD declares the peer dead: clear, restart (initiate again) or trap (initiate on traffic)"`
}

// PKI holds PEM material by name. Each value is exactly one PEM block.
type PKI struct {
	Keys           map[string]string `cfg:"key" key:"name" type:"pem-key" help:"private keys (PKCS#8, PKCS#1 or SEC1 PEM)"`
	Certificates   map[string]string `cfg:"certificate" key:"name" type:"pem-cert" help:"end-entity certificates (PEM)"`
	CACertificates map[string]string `cfg:"ca-certificate" key:"name" type:"pem-ca" help:"CA certificates (PEM, basicConstraints CA:TRUE)"`
	CRLs           map[string]string `cfg:"crl" key:"name" type:"pem-crl" help:"certificate revocation lists (PEM)"`
}

// Mode is the IPsec encapsulation mode.
type Mode string

// Modes.
const (
	ModeTransport Mode = "transport"
	ModeTunnel    Mode = "tunnel"
)

// StartAction says when a peer's SAs are set up.
type StartAction string

// Start actions.
const (
	StartNone  StartAction = "none"
	StartStart StartAction = "start"
	StartTrap  StartAction = "trap"
)

// DPDAction says what happens to a peer that dead peer detection gave up
// on. Unset, it follows the start action (DefaultDPDAction).
type DPDAction string

// DPD actions.
const (
	DPDClear   DPDAction = "clear"
	DPDRestart DPDAction = "restart"
	DPDTrap    DPDAction = "trap"
)

// DefaultDPDAction is the dpd-action of a peer that sets none: it keeps
// the peer as its start action would have it, so an initiated peer is
// initiated again, a trapped one trapped again and a responder left to
// come back by itself.
func DefaultDPDAction(start StartAction) DPDAction {
	switch start {
	case StartStart:
		return DPDRestart
	case StartTrap:
		return DPDTrap
	}
	return DPDClear
}

// CRLMode says how missing CRLs are treated.
type CRLMode string

// CRL modes.
const (
	CRLStrict  CRLMode = "strict"
	CRLRelaxed CRLMode = "relaxed"
)
