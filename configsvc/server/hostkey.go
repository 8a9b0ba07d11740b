package server

import (
	"fmt"

	"alixsec.dev/configsvc/api"
	"alixsec.dev/configsvc/hostkey"
)

// HostKey returns the SSH host key, making it if the database has none.
func (v *Service) HostKey(_ api.Empty, reply *api.HostKeyReply) error {
	key, fp, err := v.s.HostKey()
	reply.Key, reply.Fingerprint, reply.Err = key, fp, toAPIError(err)
	return nil
}

// RegenerateHostKey replaces the SSH host key in a new revision.
func (v *Service) RegenerateHostKey(_ api.Empty, reply *api.HostKeyReply) error {
	n, fp, err := v.s.regenerateHostKey()
	reply.Revision, reply.Fingerprint, reply.Err = n, fp, toAPIError(err)
	return nil
}

// HostKey returns the SSH host key and its fingerprint, first making and
// storing one if the database has none (first boot).
func (s *Server) HostKey() ([]byte, string, error) {
	key, created, err := s.store.EnsureSecret(hostkey.SecretName, hostkey.Generate)
	if err != nil {
		return nil, "", err
	}
	fp, err := hostkey.Fingerprint(key)
	if err != nil {
		return nil, "", err
	}
	if created {
		s.logf("made the ssh host key %s", fp)
	}
	return key, fp, nil
}

func (s *Server) regenerateHostKey() (uint64, string, error) {
	_, oldFP, err := s.HostKey()
	if err != nil {
		return 0, "", err
	}
	key, err := hostkey.Generate()
	if err != nil {
		return 0, "", err
	}
	fp, err := hostkey.Fingerprint(key)
	if err != nil {
		return 0, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	comment := fmt.Sprintf("ssh host key regenerated: %s (was %s)", fp, oldFP)
	n, err := s.store.ReplaceSecret(hostkey.SecretName, key, comment)
	if err != nil {
		return 0, "", err
	}
	// Followers (sshd) learn of the new key as of any commit.
	close(s.changed)
	s.changed = make(chan struct{})
	s.logf("committed revision %d (%q)", n, comment)
	return n, fp, nil
}
