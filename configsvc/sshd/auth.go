package main

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"alixsec.dev/configsvc/model"
)

// policy is who may log in: public-key authentication only, with one of
// the configured authorized keys; the user name is only logged (the CLI
// has one role). No password method is offered, so a client that has
// only a password is refused before it can send one.
type policy struct {
	keys map[string]string // ssh.PublicKey.Marshal() -> key name
}

// newPolicy reads the authorized keys of a validated config; a key that
// does not parse (impossible after validation) is an error.
func newPolicy(cfg *model.SSH) (*policy, error) {
	p := &policy{keys: map[string]string{}}
	for name, line := range cfg.AuthorizedKeys {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("system ssh authorized-key %s: %w", name, err)
		}
		p.keys[string(k.Marshal())] = name
	}
	return p, nil
}

// lookup returns the name of an authorized key.
func (p *policy) lookup(k ssh.PublicKey) (string, bool) {
	name, ok := p.keys[string(k.Marshal())]
	return name, ok
}

// allows reports whether key (marshalled) is still authorized under the
// same name: a session whose key was removed or renamed ends.
func (p *policy) allows(name string, marshalled []byte) bool {
	got, ok := p.keys[string(marshalled)]
	return ok && got == name
}

var errKeyNotAuthorized = errors.New("public key not authorized")

// Permission extension names carrying the login's key to the session.
const (
	extKeyName        = "alixsec-key-name"
	extKeyFingerprint = "alixsec-key-fp"
	extKeyMarshalled  = "alixsec-key"
)

// attempts records what one connection tried, for the one log line of a
// failed login: methods and the fingerprints of keys offered.
type attempts struct {
	mu      sync.Mutex
	user    string
	methods map[string]bool
	keys    []string
}

func (a *attempts) tried(user, method string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.user = user
	if a.methods == nil {
		a.methods = map[string]bool{}
	}
	a.methods[method] = true
}

func (a *attempts) offered(fp string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.keys {
		if k == fp {
			return
		}
	}
	a.keys = append(a.keys, fp)
}

// any reports whether the client got as far as authenticating.
func (a *attempts) any() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.methods) > 0
}

// String is e.g. `user "admin", tried publickey, keys SHA256:abc`.
func (a *attempts) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var m []string
	for k := range a.methods {
		m = append(m, k)
	}
	sort.Strings(m)
	var b bytes.Buffer
	fmt.Fprintf(&b, "user %q, tried %s", a.user, strings.Join(m, ","))
	if len(a.keys) > 0 {
		fmt.Fprintf(&b, ", keys %s", strings.Join(a.keys, " "))
	} else {
		b.WriteString(", no key")
	}
	return b.String()
}

// serverConfig is the x/crypto/ssh configuration of one connection:
// pol decides, rec records, signer is the host key.
func serverConfig(pol *policy, signer ssh.Signer, rec *attempts) *ssh.ServerConfig {
	c := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-alixsec",
		MaxAuthTries:  6,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			fp := ssh.FingerprintSHA256(key)
			rec.offered(fp)
			name, ok := pol.lookup(key)
			if !ok {
				return nil, errKeyNotAuthorized
			}
			return &ssh.Permissions{Extensions: map[string]string{
				extKeyName: name, extKeyFingerprint: fp, extKeyMarshalled: string(key.Marshal()),
			}}, nil
		},
		AuthLogCallback: func(meta ssh.ConnMetadata, method string, err error) {
			rec.tried(meta.User(), method)
		},
	}
	c.AddHostKey(signer)
	return c
}
