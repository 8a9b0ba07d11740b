package api

import "context"

// HostKey returns the SSH host key and its fingerprint; configsvc makes
// the key on first boot.
func (c *Client) HostKey(ctx context.Context) (key []byte, fingerprint string, err error) {
	var r HostKeyReply
	if err := c.call(ctx, "HostKey", Empty{}, &r); err != nil {
		return nil, "", err
	}
	return r.Key, r.Fingerprint, errOf(r.Err)
}

// RegenerateHostKey replaces the SSH host key. The change is committed as
// a new revision (same configuration, a comment naming both
// fingerprints), which it returns with the new fingerprint.
func (c *Client) RegenerateHostKey(ctx context.Context) (revision uint64, fingerprint string, err error) {
	var r HostKeyReply
	if err := c.call(ctx, "RegenerateHostKey", Empty{}, &r); err != nil {
		return 0, "", err
	}
	return r.Revision, r.Fingerprint, errOf(r.Err)
}
