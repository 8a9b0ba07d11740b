package model

import (
	"fmt"
	"strings"
)

// Proposal keywords accepted in strongSwan-syntax proposals. Checking is
// syntactic only: ikesvc decides what it can actually negotiate.
var (
	encKeywords   = []string{"aes128", "aes256"}
	aeadKeywords  = []string{"aes128gcm16", "aes256gcm16", "chacha20poly1305"}
	integKeywords = []string{"sha1", "sha256", "sha384", "sha512"}
	prfKeywords   = []string{"prfsha1", "prfsha256", "prfsha384", "prfsha512"}
	dhKeywords    = []string{"modp1024", "modp2048", "modp3072", "modp4096", "ecp256", "ecp384", "x25519", "curve25519"}
	esnKeywords   = []string{"esn", "noesn"}
)

// ProposalKeywords lists every keyword a proposal may contain, grouped by
// transform kind; the CLI and SCHEMA.md show it.
func ProposalKeywords() map[string][]string {
	return map[string][]string{
		"encryption": append(append([]string{}, encKeywords...), aeadKeywords...),
		"integrity":  integKeywords,
		"prf":        prfKeywords,
		"dh":         dhKeywords,
		"esn":        esnKeywords,
	}
}

func inList(s string, l []string) bool {
	for _, x := range l {
		if s == x {
			return true
		}
	}
	return false
}

// proposalParts counts the transforms of a proposal by kind.
type proposalParts struct {
	enc, aead, integ, prf, dh, esn int
}

func splitProposal(s string) (proposalParts, error) {
	var p proposalParts
	if s == "" || len(s) > 200 {
		return p, fmt.Errorf("empty or too long")
	}
	seen := map[string]bool{}
	for _, kw := range strings.Split(s, "-") {
		if seen[kw] {
			return p, fmt.Errorf("%q appears twice", kw)
		}
		seen[kw] = true
		switch {
		case inList(kw, encKeywords):
			p.enc++
		case inList(kw, aeadKeywords):
			p.aead++
		case inList(kw, integKeywords):
			p.integ++
		case inList(kw, prfKeywords):
			p.prf++
		case inList(kw, dhKeywords):
			p.dh++
		case inList(kw, esnKeywords):
			p.esn++
		default:
			return p, fmt.Errorf("unknown keyword %q", kw)
		}
	}
	if p.enc == 0 && p.aead == 0 {
		return p, fmt.Errorf("no encryption algorithm")
	}
	if p.enc > 0 && p.aead > 0 {
		return p, fmt.Errorf("mixes AEAD and non-AEAD encryption")
	}
	if p.aead > 0 && p.integ > 0 {
		return p, fmt.Errorf("AEAD encryption takes no integrity algorithm")
	}
	if p.enc > 0 && p.integ == 0 {
		return p, fmt.Errorf("no integrity algorithm")
	}
	return p, nil
}

func canonIKEProposal(s string) (string, error) {
	s = strings.ToLower(s)
	p, err := splitProposal(s)
	if err != nil {
		return "", err
	}
	switch {
	case p.dh == 0:
		return "", fmt.Errorf("no DH group")
	case p.esn > 0:
		return "", fmt.Errorf("esn/noesn belong to ESP proposals")
	case p.aead > 0 && p.prf == 0:
		return "", fmt.Errorf("AEAD needs a prf (e.g. prfsha256)")
	}
	return s, nil
}

func canonESPProposal(s string) (string, error) {
	s = strings.ToLower(s)
	p, err := splitProposal(s)
	if err != nil {
		return "", err
	}
	if p.prf > 0 {
		return "", fmt.Errorf("prf belongs to IKE proposals")
	}
	return s, nil
}
