package ike

import (
	"fmt"
	"strings"

	"alixsec.dev/ikesvc/pki"
)

// noMatchError says that an authenticated identity fits none of the
// configured peers that could own the IKE SA, and which remote-id
// patterns (or identities) were tried: what an admin needs to fix the
// config, in the words of the config.
type noMatchError struct {
	id    pki.Identity
	tried []string // "NAME: MATCHER"
}

func (e *noMatchError) Error() string {
	return fmt.Sprintf("no configured peer matches identity %s (patterns tried: %s)", e.id, strings.Join(e.tried, "; "))
}

// matchPeer returns the first of candidates whose remote identity admits
// id, proven by chain.
func matchPeer(candidates []*peer, id pki.Identity, chain pki.Chain) (*peer, error) {
	nm := &noMatchError{id: id}
	for _, c := range candidates {
		if c.removed {
			continue
		}
		if c.cfg.RemoteID.Match(id, chain.Leaf()) == nil {
			return c, nil
		}
		nm.tried = append(nm.tried, c.cfg.Name+": "+c.cfg.RemoteID.String())
	}
	return nil, nm
}
