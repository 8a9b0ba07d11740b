package model

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ValueType describes the values a leaf (or a tag node's key) accepts.
type ValueType struct {
	Name string   // shown as <name> in help and completion
	Help string   // what is allowed, completes the sentence "must be ..."
	Enum []string // the complete set of values, if the type is an enumeration
	// Canon checks s and returns its canonical spelling, so that the
	// same value always prints the same way.
	Canon func(s string) (string, error)
}

// Check returns the canonical form of s or an error that says what is
// allowed.
func (t *ValueType) Check(s string) (string, error) {
	if len(t.Enum) > 0 {
		for _, e := range t.Enum {
			if s == e {
				return s, nil
			}
		}
		return "", fmt.Errorf("must be one of %s", strings.Join(t.Enum, ", "))
	}
	c, err := t.Canon(s)
	if err != nil {
		if err.Error() == "" {
			return "", fmt.Errorf("must be %s", t.Help)
		}
		return "", fmt.Errorf("must be %s: %w", t.Help, err)
	}
	return c, nil
}

// errPlain asks Check to print only "must be <help>".
var errPlain = fmt.Errorf("")

// valueTypes is the fixed table of value types named in struct tags. It is
// built once and never modified.
var valueTypes = map[string]*ValueType{
	"hostname":      {Name: "hostname", Help: "a host name: letters, digits and '-', dot-separated labels of 1..63 characters", Canon: canonHostname},
	"host":          {Name: "host", Help: "a host name or an IP address", Canon: canonHost},
	"hostport":      {Name: "host[:port]", Help: "a host name or IP address, optionally with :port (IPv6 as [addr]:port)", Canon: canonHostPort},
	"timezone":      {Name: "zone", Help: "an IANA time zone name such as UTC or Europe/Zurich", Canon: canonTimeZone},
	"text":          {Name: "text", Help: "printable text of at most 255 characters", Canon: canonText},
	"ttyname":       {Name: "tty", Help: "a tty device name such as ttyS0", Canon: canonTTY},
	"baud":          {Name: "baud", Help: "a console speed", Enum: []string{"9600", "19200", "38400", "57600", "115200"}},
	"bcrypt":        {Name: "bcrypt-hash", Help: "a bcrypt hash ($2a$, $2b$ or $2y$, cost 4..31)", Canon: canonBcrypt},
	"ssh-pubkey":    {Name: "public-key", Help: `an OpenSSH public key line such as "ssh-ed25519 AAAA... user@host" (ed25519, ecdsa or rsa of 2048 bits or more)`, Canon: canonSSHPublicKey},
	"port":          intRange("port", 1, 65535),
	"idle-minutes":  intRange("minutes", 1, 1440),
	"ifname":        {Name: "ifname", Help: "an interface name of 1..15 letters, digits, '.', '-' or '_'", Canon: canonIfname},
	"ifaddr":        {Name: "address/len", Help: "an IPv4 or IPv6 address with prefix length, e.g. 10.99.0.1/24", Canon: canonIfaddr},
	"mtu":           intRange("bytes", 576, 9000),
	"metric":        intRange("metric", 0, 65535),
	"ipaddr":        {Name: "address", Help: "an IPv4 or IPv6 address", Canon: canonAddr},
	"prefix":        {Name: "prefix", Help: "a network prefix with host bits zero, e.g. 10.1.0.0/16 or 0.0.0.0/0", Canon: canonCIDR},
	"cidr":          {Name: "prefix", Help: "a network prefix with host bits zero, e.g. 10.1.0.0/24", Canon: canonCIDR},
	"name":          {Name: "name", Help: "a name of 1..64 letters, digits, '.', '-' or '_' starting with a letter or digit", Canon: canonName},
	"identity":      {Name: "identity", Help: `an identity: a DN such as "C=CH, O=Example, CN=gw1", a FQDN, user@fqdn or an IP address`, Canon: canonIdentity},
	"dn-pattern":    {Name: "dn-pattern", Help: `a DN pattern such as "C=CH, O=Example, CN=*" (a value of exactly * matches any value)`, Canon: canonDNPattern},
	"mode":          {Name: "mode", Help: "an IPsec mode", Enum: []string{string(ModeTransport), string(ModeTunnel)}},
	"start-action":  {Name: "action", Help: "a start action", Enum: []string{string(StartNone), string(StartStart), string(StartTrap)}},
	"crl-mode":      {Name: "crl-mode", Help: "a CRL mode", Enum: []string{string(CRLStrict), string(CRLRelaxed)}},
	"on-off":        {Name: "on|off", Help: "on or off", Enum: []string{"on", "off"}},
	"dpd-seconds":   intRange("seconds", 5, 3600),
	"rekey-seconds": rekeySeconds,
	"reauth-time":   {Name: "seconds", Help: "0 (off) or 60..86400", Canon: canonReauth},
	"dpd-action":    {Name: "action", Help: "a DPD action", Enum: []string{string(DPDClear), string(DPDRestart), string(DPDTrap)}},
	"ike-proposal":  {Name: "proposal", Help: "an IKE proposal such as aes128-sha256-modp2048 or aes256gcm16-prfsha256-ecp256", Canon: canonIKEProposal},
	"esp-proposal":  {Name: "proposal", Help: "an ESP proposal such as aes128-sha256-modp2048 or aes128gcm16-ecp256-esn", Canon: canonESPProposal},
	"pem-key":       {Name: "pem", Help: "one PEM private key (PKCS#8, PKCS#1 or SEC1)", Canon: canonPEMKey},
	"pem-cert":      {Name: "pem", Help: "one PEM certificate", Canon: canonPEMCert},
	"pem-ca":        {Name: "pem", Help: "one PEM CA certificate (basicConstraints CA:TRUE)", Canon: canonPEMCA},
	"pem-crl":       {Name: "pem", Help: "one PEM X.509 CRL", Canon: canonPEMCRL},
}

func intRange(name string, lo, hi int) *ValueType {
	return &ValueType{
		Name: name,
		Help: fmt.Sprintf("%d..%d", lo, hi),
		Canon: func(s string) (string, error) {
			if len(s) > 6 {
				return "", errPlain
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < lo || n > hi {
				return "", errPlain
			}
			return strconv.Itoa(n), nil
		},
	}
}

// canonReauth is rekey-seconds plus 0 for off. The leaf is a string so
// that 0 is a value (a peer turning off the ipsec-wide reauth-time), not
// "unset".
func canonReauth(s string) (string, error) {
	if s == "0" {
		return s, nil
	}
	return rekeySeconds.Canon(s)
}

// rekeySeconds is the range of every rekey and reauth time. 60 s is
// enough for the engine's make-before-break (it needs a 5 s grace per
// replacement) and lets the no-loss tests run several rekeys in minutes.
var rekeySeconds = intRange("seconds", 60, 86400)

func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func canonHostname(s string) (string, error) {
	if len(s) == 0 || len(s) > 253 {
		return "", errPlain
	}
	for _, l := range strings.Split(s, ".") {
		if !isLabel(l) {
			return "", errPlain
		}
	}
	return s, nil
}

func canonHost(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), nil
	}
	return canonHostname(s)
}

func canonHostPort(s string) (string, error) {
	if h, p, err := splitHostPort(s); err == nil && p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || len(p) > 5 {
			return "", fmt.Errorf("port %q is not 1..65535", p)
		}
		h, err = canonHost(h)
		if err != nil {
			return "", err
		}
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		return h + ":" + strconv.Itoa(n), nil
	}
	return canonHost(s)
}

// splitHostPort splits "host:port" and "[v6]:port"; a bare IPv6 address
// has no port.
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		i := strings.Index(s, "]:")
		if i < 0 {
			return "", "", errPlain
		}
		return s[1:i], s[i+2:], nil
	}
	if strings.Count(s, ":") != 1 {
		return s, "", errPlain
	}
	i := strings.IndexByte(s, ':')
	return s[:i], s[i+1:], nil
}

func canonTimeZone(s string) (string, error) {
	if len(s) == 0 || len(s) > 64 {
		return "", errPlain
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || part == "." || part == ".." {
			return "", errPlain
		}
		for _, c := range []byte(part) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+') {
				return "", errPlain
			}
		}
	}
	return s, nil
}

func canonText(s string) (string, error) {
	if len(s) > 255 {
		return "", errPlain
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return "", errPlain
		}
	}
	return s, nil
}

func canonTTY(s string) (string, error) {
	if len(s) == 0 || len(s) > 32 {
		return "", errPlain
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", errPlain
		}
	}
	return s, nil
}

func canonBcrypt(s string) (string, error) {
	if len(s) != 60 || !(strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")) {
		return "", errPlain
	}
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return "", errPlain
	}
	return s, nil
}

func canonIfname(s string) (string, error) {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." {
		return "", errPlain
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "", errPlain
		}
	}
	return s, nil
}

func canonName(s string) (string, error) {
	if len(s) == 0 || len(s) > 64 || s[0] == '.' || s[0] == '-' || s[0] == '_' {
		return "", errPlain
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "", errPlain
		}
	}
	return s, nil
}

func canonIfaddr(s string) (string, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return "", errPlain
	}
	a := p.Addr()
	if a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
		return "", fmt.Errorf("%s is not a unicast address", a)
	}
	return p.String(), nil
}

func canonAddr(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return "", errPlain
	}
	return a.String(), nil
}

func canonCIDR(s string) (string, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return "", errPlain
	}
	if m := p.Masked(); m != p {
		return "", fmt.Errorf("host bits set, did you mean %s?", m)
	}
	return p.String(), nil
}
