package pki

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"crypto/x509/pkix"
)

// DN strings are written most significant RDN first, in the order the RDNs
// appear in the DER encoding, the way strongSwan and ipsec.conf write them:
//
//	C=JP, O=Example, CN=gw1.example.net
//
// (RFC 4514, and Go's pkix.Name.String, print the reverse order.) A string
// that starts with '/' is read in OpenSSL's one-line form instead:
// /C=JP/O=Example/CN=gw1.example.net. Values may be quoted ("a, b"),
// backslash-escaped (\, \+ \\ \2C) or, for non-string values, '#' followed by
// the hex of their DER encoding. Multi-valued RDNs join attributes with '+'.

// attributeNames maps the short names accepted in DN strings to their OIDs.
// The first name listed for an OID in attributeOrder is the one printed.
var attributeNames = map[string]asn1.ObjectIdentifier{
	"c":            {2, 5, 4, 6},
	"st":           {2, 5, 4, 8},
	"s":            {2, 5, 4, 8},
	"l":            {2, 5, 4, 7},
	"o":            {2, 5, 4, 10},
	"ou":           {2, 5, 4, 11},
	"cn":           {2, 5, 4, 3},
	"sn":           {2, 5, 4, 4},
	"serialnumber": {2, 5, 4, 5},
	"title":        {2, 5, 4, 12},
	"t":            {2, 5, 4, 12},
	"street":       {2, 5, 4, 9},
	"postalcode":   {2, 5, 4, 17},
	"gn":           {2, 5, 4, 42},
	"dnqualifier":  {2, 5, 4, 46},
	"pseudonym":    {2, 5, 4, 65},
	"dc":           {0, 9, 2342, 19200300, 100, 1, 25},
	"uid":          {0, 9, 2342, 19200300, 100, 1, 1},
	"e":            {1, 2, 840, 113549, 1, 9, 1},
	"emailaddress": {1, 2, 840, 113549, 1, 9, 1},
}

// printedNames is the name each known OID is printed with.
var printedNames = map[string]string{
	"2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber",
	"2.5.4.12": "title", "2.5.4.9": "street", "2.5.4.17": "postalCode",
	"2.5.4.42": "GN", "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym",
	"0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
	"1.2.840.113549.1.9.1": "E",
}

// ia5Attributes are encoded as IA5String (RFC 5280 for emailAddress, RFC 4519
// for domainComponent) when their value is ASCII.
var ia5Attributes = map[string]bool{
	"1.2.840.113549.1.9.1":       true,
	"0.9.2342.19200300.100.1.25": true,
}

// ErrBadDN is wrapped by every DN string parse error.
var ErrBadDN = errors.New("bad DN")

// parsedAttribute is one type=value of a DN string; wildcard records an
// unescaped, unquoted "*" value, which only DN patterns give a meaning.
type parsedAttribute struct {
	atv      pkix.AttributeTypeAndValue
	wildcard bool
}

// ParseDN parses a DN string (see the package comment on DN strings) into an
// RDN sequence in DER order. String values are Go strings; '#'-hex values are
// asn1.RawValue.
func ParseDN(s string) (pkix.RDNSequence, error) {
	rdns, err := parseDN(s)
	if err != nil {
		return nil, err
	}
	out := make(pkix.RDNSequence, len(rdns))
	for i, rdn := range rdns {
		set := make([]pkix.AttributeTypeAndValue, len(rdn))
		for j, a := range rdn {
			set[j] = a.atv
		}
		out[i] = set
	}
	return out, nil
}

func parseDN(s string) ([][]parsedAttribute, error) {
	sep := byte(',')
	// Only leading space is trimmed here: trailing space may be escaped,
	// and parseValue drops unescaped trailing space itself.
	rest := strings.TrimLeft(s, " \t")
	if strings.HasPrefix(rest, "/") {
		sep = '/'
		rest = rest[1:]
	}
	if strings.TrimSpace(rest) == "" {
		return nil, fmt.Errorf("%w %q: empty", ErrBadDN, s)
	}
	var rdns [][]parsedAttribute
	var rdn []parsedAttribute
	for {
		attr, next, end, err := parseAttribute(rest, sep)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrBadDN, s, err)
		}
		rdn = append(rdn, attr)
		switch end {
		case '+':
			rest = next
			continue
		case 0:
			return append(rdns, rdn), nil
		}
		rdns = append(rdns, rdn)
		rdn = nil
		rest = next
	}
}

// parseAttribute reads "type=value" from s up to an unescaped separator or
// '+'. It returns the rest after that terminator and the terminator itself
// (0 at the end of the string).
func parseAttribute(s string, sep byte) (parsedAttribute, string, byte, error) {
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return parsedAttribute{}, "", 0, fmt.Errorf("missing '=' in %q", s)
	}
	oid, err := parseAttributeType(strings.TrimSpace(s[:eq]))
	if err != nil {
		return parsedAttribute{}, "", 0, err
	}
	value, wildcard, rest, end, err := parseValue(s[eq+1:], sep)
	if err != nil {
		return parsedAttribute{}, "", 0, fmt.Errorf("value of %s: %v", attributeName(oid), err)
	}
	return parsedAttribute{atv: pkix.AttributeTypeAndValue{Type: oid, Value: value}, wildcard: wildcard}, rest, end, nil
}

func parseAttributeType(name string) (asn1.ObjectIdentifier, error) {
	if name == "" {
		return nil, errors.New("empty attribute type")
	}
	if oid, ok := attributeNames[strings.ToLower(name)]; ok {
		return oid, nil
	}
	dotted := strings.TrimPrefix(strings.TrimPrefix(name, "OID."), "oid.")
	if dotted == "" || dotted[0] < '0' || dotted[0] > '9' {
		return nil, fmt.Errorf("unknown attribute type %q", name)
	}
	parts := strings.Split(dotted, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("unknown attribute type %q", name)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return nil, fmt.Errorf("bad OID %q", name)
		}
		oid[i] = int(n)
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, fmt.Errorf("bad OID %q", name)
	}
	return oid, nil
}

// parseValue reads one attribute value. Unescaped leading and trailing
// spaces are dropped, as RFC 4514 readers do.
func parseValue(s string, sep byte) (value any, wildcard bool, rest string, end byte, err error) {
	s = strings.TrimLeft(s, " ")
	switch {
	case strings.HasPrefix(s, "#"):
		i := 1
		for i < len(s) && s[i] != sep && s[i] != '+' {
			i++
		}
		raw, err := parseHexValue(strings.TrimRight(s[1:i], " "))
		rest, end = splitTerminator(s, i)
		return raw, false, rest, end, err
	case strings.HasPrefix(s, `"`):
		return parseQuoted(s[1:], sep)
	}
	var buf []byte
	keep := 0 // length of buf that survives trailing-space trimming
	escaped := false
	i := 0
	for ; i < len(s) && s[i] != sep && s[i] != '+'; i++ {
		c := s[i]
		switch c {
		case '\\':
			b, n, err := unescape(s[i+1:])
			if err != nil {
				return nil, false, "", 0, err
			}
			buf = append(buf, b)
			keep = len(buf)
			escaped = true
			i += n
			continue
		case '"':
			return nil, false, "", 0, errors.New("unescaped '\"' inside value")
		}
		buf = append(buf, c)
		if c != ' ' {
			keep = len(buf)
		}
	}
	buf = buf[:keep]
	wildcard = !escaped && len(buf) == 1 && buf[0] == '*'
	rest, end = splitTerminator(s, i)
	str, err := checkString(buf)
	return str, wildcard, rest, end, err
}

// parseQuoted reads a value after its opening quote.
func parseQuoted(s string, sep byte) (any, bool, string, byte, error) {
	var buf []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b, n, err := unescape(s[i+1:])
			if err != nil {
				return nil, false, "", 0, err
			}
			buf = append(buf, b)
			i += n
		case '"':
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			if i < len(s) && s[i] != sep && s[i] != '+' {
				return nil, false, "", 0, errors.New("text after closing quote")
			}
			rest, end := splitTerminator(s, i)
			str, err := checkString(buf)
			return str, false, rest, end, err
		default:
			buf = append(buf, c)
		}
	}
	return nil, false, "", 0, errors.New("missing closing quote")
}

func checkString(buf []byte) (any, error) {
	if len(buf) == 0 {
		return nil, errors.New("empty value")
	}
	if !utf8.Valid(buf) {
		return nil, errors.New("value is not UTF-8")
	}
	return string(buf), nil
}

func splitTerminator(s string, i int) (string, byte) {
	if i >= len(s) {
		return "", 0
	}
	return s[i+1:], s[i]
}

// unescape decodes the text after a backslash: two hex digits or one
// special character. It returns the byte and how many input bytes it used.
func unescape(s string) (byte, int, error) {
	if len(s) >= 2 && isHex(s[0]) && isHex(s[1]) {
		b, _ := strconv.ParseUint(s[:2], 16, 8)
		return byte(b), 2, nil
	}
	if len(s) >= 1 && strings.IndexByte(`,+"\<>;=/# *`, s[0]) >= 0 {
		return s[0], 1, nil
	}
	return 0, 0, errors.New("bad escape sequence")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func parseHexValue(h string) (asn1.RawValue, error) {
	der, err := hex.DecodeString(h)
	if err != nil || len(der) == 0 {
		return asn1.RawValue{}, fmt.Errorf("bad hex value %q", h)
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil || len(rest) != 0 {
		return asn1.RawValue{}, fmt.Errorf("hex value %q is not one DER element", h)
	}
	return raw, nil
}

// FormatDN prints an RDN sequence as a DN string in DER order, the inverse of
// ParseDN: ParseDN(FormatDN(dn)) equals dn for every dn ParseDN returns.
func FormatDN(dn pkix.RDNSequence) string {
	var b strings.Builder
	for i, rdn := range dn {
		if i > 0 {
			b.WriteString(", ")
		}
		for j, atv := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(attributeName(atv.Type))
			b.WriteByte('=')
			b.WriteString(formatValue(atv.Value))
		}
	}
	return b.String()
}

func attributeName(oid asn1.ObjectIdentifier) string {
	if name, ok := printedNames[oid.String()]; ok {
		return name
	}
	return oid.String()
}

func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return escapeValue(v)
	case asn1.RawValue:
		if len(v.FullBytes) > 0 {
			return "#" + hex.EncodeToString(v.FullBytes)
		}
	}
	der, err := asn1.Marshal(v)
	if err != nil {
		return "#"
	}
	return "#" + hex.EncodeToString(der)
}

func escapeValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case strings.IndexByte(`,+"\<>;=/`, c) >= 0,
			(c == ' ' || c == '#') && i == 0,
			c == ' ' && i == len(v)-1,
			c == '*' && len(v) == 1:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// MarshalDN encodes an RDN sequence as DER, the form of a certificate's
// subject and of an IKE ID_DER_ASN1_DN payload. emailAddress and
// domainComponent values are IA5String, other strings PrintableString when
// they fit and UTF8String otherwise.
func MarshalDN(dn pkix.RDNSequence) ([]byte, error) {
	enc := make(pkix.RDNSequence, len(dn))
	for i, rdn := range dn {
		set := make([]pkix.AttributeTypeAndValue, len(rdn))
		for j, atv := range rdn {
			set[j] = atv
			if s, ok := atv.Value.(string); ok && ia5Attributes[atv.Type.String()] && isASCII(s) {
				set[j].Value = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(s)}
			}
		}
		enc[i] = set
	}
	der, err := asn1.Marshal(enc)
	if err != nil {
		return nil, fmt.Errorf("encode DN %q: %w", FormatDN(dn), err)
	}
	return der, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// rawRDNSET and rawATV decode a DN without losing values crypto/x509's
// generic decoding drops (it turns NULL and unknown types into nil); the
// type name suffix SET makes encoding/asn1 expect a SET.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rawRDNSET []rawATV

// UnmarshalDN decodes a DER DN (a certificate's RawSubject or the data of an
// ID_DER_ASN1_DN payload). String values become Go strings, anything else
// an asn1.RawValue.
func UnmarshalDN(der []byte) (pkix.RDNSequence, error) {
	var raw []rawRDNSET
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return nil, fmt.Errorf("decode DN: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("decode DN: %d trailing bytes", len(rest))
	}
	dn := make(pkix.RDNSequence, len(raw))
	for i, rdn := range raw {
		dn[i] = make([]pkix.AttributeTypeAndValue, len(rdn))
		for j, atv := range rdn {
			dn[i][j] = pkix.AttributeTypeAndValue{Type: atv.Type, Value: stringValue(atv.Value)}
		}
	}
	return dn, nil
}

// stringValue turns a DER value of a string type into a Go string, and
// leaves anything else (or a string that is not valid text) raw.
func stringValue(v asn1.RawValue) any {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return v
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagT61String, 26 /* VisibleString */, asn1.TagNumericString:
		if len(v.Bytes) > 0 && utf8.Valid(v.Bytes) {
			return string(v.Bytes)
		}
	case asn1.TagBMPString:
		if s, ok := decodeBMP(v.Bytes); ok && s != "" {
			return s
		}
	}
	return v
}

func decodeBMP(b []byte) (string, bool) {
	if len(b)%2 != 0 {
		return "", false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	s := string(utf16.Decode(u))
	return s, utf8.ValidString(s) && !strings.ContainsRune(s, utf8.RuneError)
}

// DNString parses a DER DN and prints it, or prints the hex when it does not
// parse; meant for logs.
func DNString(der []byte) string {
	dn, err := UnmarshalDN(der)
	if err != nil {
		return "#" + hex.EncodeToString(der)
	}
	return FormatDN(dn)
}

// EqualDN reports whether two DNs name the same entity: the same RDNs in the
// same order with the same attribute types, string values compared without
// regard to case or runs of spaces (a light form of RFC 4518's caseIgnoreMatch),
// other values by their DER.
func EqualDN(a, b pkix.RDNSequence) bool {
	return matchDN(a, nil, b)
}

// matchDN compares pattern against dn; wild[i][j] (when wild is not nil)
// marks attributes of pattern whose value matches anything. The attributes
// of one RDN form a SET, which DER sorts, so they match in any order.
func matchDN(pattern pkix.RDNSequence, wild [][]bool, dn pkix.RDNSequence) bool {
	if len(pattern) != len(dn) {
		return false
	}
	for i := range pattern {
		if len(pattern[i]) != len(dn[i]) {
			return false
		}
		used := make([]bool, len(dn[i]))
		for j, p := range pattern[i] {
			found := false
			for k, d := range dn[i] {
				if used[k] || !p.Type.Equal(d.Type) {
					continue
				}
				if (wild != nil && wild[i][j]) || equalValue(p.Value, d.Value) {
					used[k], found = true, true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

func equalValue(a, b any) bool {
	a, b = normalizeValue(a), normalizeValue(b)
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.EqualFold(foldSpaces(as), foldSpaces(bs))
	}
	ad, err1 := asn1.Marshal(a)
	bd, err2 := asn1.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ad, bd)
}

// normalizeValue reads a raw value of a string type as the string, so
// "CN=#0c0178" equals "CN=x".
func normalizeValue(v any) any {
	if raw, ok := v.(asn1.RawValue); ok {
		if len(raw.FullBytes) > 0 {
			var reparsed asn1.RawValue
			if _, err := asn1.Unmarshal(raw.FullBytes, &reparsed); err == nil {
				raw = reparsed
			}
		}
		return stringValue(raw)
	}
	return v
}

func foldSpaces(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// DNPattern is a DN in which an attribute value of "*" matches any value of
// that attribute, so "C=JP, O=Example, CN=*" admits every certificate whose
// subject has exactly those three RDNs with C=JP and O=Example. Types and
// the number and order of RDNs must match exactly. A literal "*" value is
// written "\*".
type DNPattern struct {
	dn   pkix.RDNSequence
	wild [][]bool
}

// ParseDNPattern parses a DN string that may hold wildcards.
func ParseDNPattern(s string) (DNPattern, error) {
	rdns, err := parseDN(s)
	if err != nil {
		return DNPattern{}, err
	}
	p := DNPattern{dn: make(pkix.RDNSequence, len(rdns)), wild: make([][]bool, len(rdns))}
	for i, rdn := range rdns {
		p.dn[i] = make([]pkix.AttributeTypeAndValue, len(rdn))
		p.wild[i] = make([]bool, len(rdn))
		for j, a := range rdn {
			p.dn[i][j] = a.atv
			p.wild[i][j] = a.wildcard
		}
	}
	return p, nil
}

// Match reports whether dn fits the pattern.
func (p DNPattern) Match(dn pkix.RDNSequence) bool {
	return matchDN(p.dn, p.wild, dn)
}

// MatchDER is Match on a DER DN; a DN that does not parse never matches.
func (p DNPattern) MatchDER(der []byte) bool {
	dn, err := UnmarshalDN(der)
	return err == nil && p.Match(dn)
}

// HasWildcard reports whether the pattern holds any wildcard.
func (p DNPattern) HasWildcard() bool {
	for _, rdn := range p.wild {
		for _, w := range rdn {
			if w {
				return true
			}
		}
	}
	return false
}

// String prints the pattern, wildcards as "*".
func (p DNPattern) String() string {
	s := make([]string, len(p.dn))
	for i, rdn := range p.dn {
		parts := make([]string, len(rdn))
		for j, atv := range rdn {
			v := formatValue(atv.Value)
			if p.wild[i][j] {
				v = "*"
			}
			parts[j] = attributeName(atv.Type) + "=" + v
		}
		s[i] = strings.Join(parts, "+")
	}
	return strings.Join(s, ", ")
}
