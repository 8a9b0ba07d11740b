package interop

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// IKESA is one IKE_SA from `swanctl --list-sas --raw`.
type IKESA struct {
	Name                  string // connection name
	UniqueID              string
	State                 string // ESTABLISHED, CONNECTING, ...
	LocalHost, RemoteHost string
	LocalPort, RemotePort int
	LocalID, RemoteID     string
	Initiator             bool
	InitiatorSPI          string // hex
	ResponderSPI          string // hex
	NATLocal, NATRemote   bool   // NAT detected at this end / the peer's end
	NATFake, NATAny       bool   // NAT faked (libipsec's forced encapsulation) / any of them
	EncrAlg, IntegAlg     string // e.g. AES_CBC, HMAC_SHA2_256_128
	EncrKeysize           int
	PRFAlg, DHGroup       string // e.g. PRF_HMAC_SHA2_256, CURVE_25519
	Children              []ChildSA
	Fields                map[string]string // every scalar, as printed
}

// ChildSA is one CHILD_SA of an IKESA.
type ChildSA struct {
	Name                 string // CHILD_SA config name
	UniqueID, ReqID      string
	State                string // INSTALLED, REKEYED, ...
	Mode                 string // TUNNEL, TRANSPORT
	Protocol             string // ESP, AH
	Encap                bool   // UDP-encapsulated (NAT-T)
	SPIIn, SPIOut        string // hex
	EncrAlg, IntegAlg    string
	EncrKeysize          int
	DHGroup              string // PFS group, if any
	ESN                  bool
	BytesIn, PacketsIn   uint64
	BytesOut, PacketsOut uint64
	LocalTS, RemoteTS    []string
	Fields               map[string]string
}

// ParseListSAs parses the output of `swanctl --list-sas --raw`: one line
// per vici message, "list-sa event {NAME {key=value ... child-sas {NAME
// {...}}}}", ending with "list-sas reply {}".
//
// The raw format does not quote values, and identities are printed as they
// are ("local-id=C=CH, O=x y, CN=moon"), so a value ends only where a
// lower-case key ("[a-z0-9][a-z0-9_-]*=" or "... {") or a '}' follows. That
// holds for everything charon prints as long as connection and CHILD_SA
// names are lower-case and DNs use charon's upper-case attribute names.
func ParseListSAs(out string) ([]IKESA, error) {
	var sas []IKESA
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		body, ok := strings.CutPrefix(line, "list-sa event ")
		if !ok {
			continue
		}
		sec, err := parseRawSection(body)
		if err != nil {
			return nil, fmt.Errorf("list-sas line %d: %w", n+1, err)
		}
		for _, ike := range sec.sections {
			sas = append(sas, ikeSAFrom(ike))
		}
	}
	return sas, nil
}

// rawSection is one "{...}" of a vici message in raw form.
type rawSection struct {
	name     string
	values   map[string]string
	lists    map[string][]string
	sections []*rawSection
}

// parseRawSection parses s, which must be exactly one "{...}".
func parseRawSection(s string) (*rawSection, error) {
	p := &rawParser{s: s}
	if !p.eat("{") {
		return nil, p.errorf("want '{'")
	}
	sec, err := p.body("")
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.s) {
		return nil, p.errorf("trailing text")
	}
	return sec, nil
}

type rawParser struct {
	s   string
	pos int
}

func (p *rawParser) errorf(format string, args ...any) error {
	rest := p.s[p.pos:]
	if len(rest) > 30 {
		rest = rest[:30] + "..."
	}
	return fmt.Errorf("raw vici at byte %d (%q): %s", p.pos, rest, fmt.Sprintf(format, args...))
}

func (p *rawParser) eat(tok string) bool {
	if strings.HasPrefix(p.s[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *rawParser) skipSpaces() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 16

// body parses the inside of a section up to and including its '}'.
func (p *rawParser) body(name string) (*rawSection, error) {
	return p.bodyAt(name, 0)
}

func (p *rawParser) bodyAt(name string, depth int) (*rawSection, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d", maxDepth)
	}
	sec := &rawSection{name: name, values: map[string]string{}, lists: map[string][]string{}}
	for {
		p.skipSpaces()
		if p.pos >= len(p.s) {
			return nil, p.errorf("unterminated section %q", name)
		}
		if p.eat("}") {
			return sec, nil
		}
		key := p.word()
		if key == "" {
			return nil, p.errorf("want a key or '}'")
		}
		switch {
		case p.eat(" {"):
			child, err := p.bodyAt(key, depth+1)
			if err != nil {
				return nil, err
			}
			sec.sections = append(sec.sections, child)
		case p.eat("=["):
			end := strings.IndexByte(p.s[p.pos:], ']')
			if end < 0 {
				return nil, p.errorf("unterminated list %q", key)
			}
			sec.lists[key] = strings.Fields(p.s[p.pos : p.pos+end])
			p.pos += end + 1
		case p.eat("="):
			sec.values[key] = p.value()
		default:
			return nil, p.errorf("want '=' or ' {' after %q", key)
		}
	}
}

// word reads a key or section name: everything up to '=' or ' '.
func (p *rawParser) word() string {
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != '=' && p.s[p.pos] != ' ' && p.s[p.pos] != '{' && p.s[p.pos] != '}' {
		p.pos++
	}
	return p.s[start:p.pos]
}

// value reads a scalar up to a '}' or to a blank that starts the next key.
func (p *rawParser) value() string {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '}' {
			break
		}
		if c == ' ' && startsKey(p.s[p.pos+1:]) {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

// startsKey reports whether s begins with a lower-case key followed by '='
// or " {", or with a '}'.
func startsKey(s string) bool {
	if strings.HasPrefix(s, "}") {
		return true
	}
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9' || i > 0 && (s[i] == '-' || s[i] == '_')) {
		i++
	}
	if i == 0 {
		return false
	}
	rest := s[i:]
	return strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, " {")
}

func ikeSAFrom(s *rawSection) IKESA {
	v := s.values
	sa := IKESA{
		Name:         s.name,
		UniqueID:     v["uniqueid"],
		State:        v["state"],
		LocalHost:    v["local-host"],
		RemoteHost:   v["remote-host"],
		LocalPort:    atoi(v["local-port"]),
		RemotePort:   atoi(v["remote-port"]),
		LocalID:      v["local-id"],
		RemoteID:     v["remote-id"],
		Initiator:    v["initiator"] == "yes",
		InitiatorSPI: v["initiator-spi"],
		ResponderSPI: v["responder-spi"],
		NATLocal:     v["nat-local"] == "yes",
		NATRemote:    v["nat-remote"] == "yes",
		NATFake:      v["nat-fake"] == "yes",
		NATAny:       v["nat-any"] == "yes",
		EncrAlg:      v["encr-alg"],
		EncrKeysize:  atoi(v["encr-keysize"]),
		IntegAlg:     v["integ-alg"],
		PRFAlg:       v["prf-alg"],
		DHGroup:      v["dh-group"],
		Fields:       v,
	}
	for _, sub := range s.sections {
		if sub.name != "child-sas" {
			continue
		}
		for _, c := range sub.sections {
			sa.Children = append(sa.Children, childSAFrom(c))
		}
	}
	return sa
}

func childSAFrom(s *rawSection) ChildSA {
	v := s.values
	return ChildSA{
		Name:        v["name"],
		UniqueID:    v["uniqueid"],
		ReqID:       v["reqid"],
		State:       v["state"],
		Mode:        v["mode"],
		Protocol:    v["protocol"],
		Encap:       v["encap"] == "yes",
		SPIIn:       v["spi-in"],
		SPIOut:      v["spi-out"],
		EncrAlg:     v["encr-alg"],
		EncrKeysize: atoi(v["encr-keysize"]),
		IntegAlg:    v["integ-alg"],
		DHGroup:     v["dh-group"],
		ESN:         v["esn"] == "1" || v["esn"] == "yes",
		BytesIn:     atou(v["bytes-in"]),
		PacketsIn:   atou(v["packets-in"]),
		BytesOut:    atou(v["bytes-out"]),
		PacketsOut:  atou(v["packets-out"]),
		LocalTS:     s.lists["local-ts"],
		RemoteTS:    s.lists["remote-ts"],
		Fields:      v,
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func atou(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// FormatSAs prints SAs in one line each, for test messages.
func FormatSAs(sas []IKESA) string {
	if len(sas) == 0 {
		return "(no SAs)"
	}
	var b strings.Builder
	for _, sa := range sas {
		fmt.Fprintf(&b, "\n  IKE %s %s %s[%d] %q <-> %s[%d] %q %s/%d/%s/%s/%s", sa.Name, sa.State,
			sa.LocalHost, sa.LocalPort, sa.LocalID, sa.RemoteHost, sa.RemotePort, sa.RemoteID,
			sa.EncrAlg, sa.EncrKeysize, sa.IntegAlg, sa.PRFAlg, sa.DHGroup)
		for _, c := range sa.Children {
			fmt.Fprintf(&b, "\n    CHILD %s %s %s %s encap=%v spi %s/%s %s/%d/%s ts %v === %v",
				c.Name, c.State, c.Mode, c.Protocol, c.Encap, c.SPIIn, c.SPIOut,
				c.EncrAlg, c.EncrKeysize, c.IntegAlg, c.LocalTS, c.RemoteTS)
		}
	}
	return b.String()
}

// Expect describes an established host-to-host tunnel as one side sees it.
type Expect struct {
	LocalHost, RemoteHost string // outer addresses
	LocalID, RemoteID     string
}

// CheckTunnel finds the ESTABLISHED IKE_SA between e's hosts and identities
// with an INSTALLED, UDP-encapsulated ESP tunnel-mode CHILD_SA whose traffic
// selectors are the two hosts, and returns it; the error says what is
// missing or different.
func CheckTunnel(sas []IKESA, e Expect) (*IKESA, *ChildSA, error) {
	var problems []string
	for i := range sas {
		sa := &sas[i]
		var p []string
		check := func(what, got, want string) {
			if got != want {
				p = append(p, fmt.Sprintf("%s %q, want %q", what, got, want))
			}
		}
		check("state", sa.State, "ESTABLISHED")
		check("local-host", sa.LocalHost, e.LocalHost)
		check("remote-host", sa.RemoteHost, e.RemoteHost)
		check("local-id", sa.LocalID, e.LocalID)
		check("remote-id", sa.RemoteID, e.RemoteID)
		if sa.LocalPort != 4500 || sa.RemotePort != 4500 {
			p = append(p, fmt.Sprintf("ports %d/%d, want 4500/4500 (NAT-T float)", sa.LocalPort, sa.RemotePort))
		}
		if len(sa.InitiatorSPI) != 16 || len(sa.ResponderSPI) != 16 {
			p = append(p, fmt.Sprintf("IKE SPIs %q/%q, want 8 bytes each", sa.InitiatorSPI, sa.ResponderSPI))
		}
		var child *ChildSA
		for j := range sa.Children {
			c := &sa.Children[j]
			if c.State == "INSTALLED" && c.Mode == "TUNNEL" && c.Protocol == "ESP" && c.Encap &&
				len(c.SPIIn) == 8 && len(c.SPIOut) == 8 &&
				equalTS(c.LocalTS, e.LocalHost) && equalTS(c.RemoteTS, e.RemoteHost) {
				child = c
				break
			}
		}
		if child == nil {
			p = append(p, "no INSTALLED encapsulated ESP tunnel CHILD_SA between the two hosts")
		}
		if len(p) == 0 {
			return sa, child, nil
		}
		problems = append(problems, fmt.Sprintf("IKE_SA %s #%s: %s", sa.Name, sa.UniqueID, strings.Join(p, "; ")))
	}
	if len(problems) == 0 {
		return nil, nil, errors.New("no IKE_SA at all")
	}
	return nil, nil, errors.New(strings.Join(problems, "\n"))
}

// equalTS reports whether ts is exactly the host route of addr.
func equalTS(ts []string, addr string) bool {
	if len(ts) != 1 {
		return false
	}
	bits := "/32"
	if strings.Contains(addr, ":") {
		bits = "/128"
	}
	return ts[0] == addr+bits
}
