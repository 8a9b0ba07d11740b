package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Secrets are board identity (the SSH host key) that lives in the same
// database as the configuration but outside its revisions: bucket
// "secrets" maps a name to its value. A rollback to a revision older
// than a secret therefore keeps it, and a firmware that does not know the
// bucket (format version 1 readers) ignores it, so the file stays
// readable by the previous firmware after an upgrade.
var bucketSecrets = []byte("secrets")

// Secret returns the named secret, or an error wrapping ErrNotFound.
func (s *Store) Secret(name string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSecrets); b != nil {
			v = append([]byte(nil), b.Get([]byte(name))...)
		}
		if len(v) == 0 {
			return fmt.Errorf("secret %s: %w", name, ErrNotFound)
		}
		return nil
	})
	return v, err
}

// EnsureSecret returns the named secret, first making it with generate
// and storing it (one fsync'd transaction) if the database has none:
// that happens once per database, on first boot. created says whether it
// did.
func (s *Store) EnsureSecret(name string, generate func() ([]byte, error)) (value []byte, created bool, err error) {
	v, err := s.Secret(name)
	if err == nil {
		return v, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	v, err = generate()
	if err != nil {
		return nil, false, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSecrets)
		if err != nil {
			return err
		}
		if old := b.Get([]byte(name)); len(old) > 0 {
			v, created = append([]byte(nil), old...), false // made meanwhile
			return nil
		}
		created = true
		return b.Put([]byte(name), v)
	})
	if err != nil {
		return nil, false, fmt.Errorf("storing secret %s in %s: %w", name, s.path, err)
	}
	return v, created, nil
}

// ReplaceSecret stores a new value for the named secret and, in the same
// transaction, a new revision that repeats the running configuration with
// comment: the change is committed like any config change (it has a
// number, a time and a comment in the history) without changing the
// configuration itself. It returns the new revision.
func (s *Store) ReplaceSecret(name string, value []byte, comment string) (uint64, error) {
	var n uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, revs := tx.Bucket(bucketMeta), tx.Bucket(bucketRevisions)
		running := getU64(meta, keyRunning)
		_, text, err := decodeHeader(revs.Get(u64(running)))
		if err != nil {
			return fmt.Errorf("running revision %d: %w", running, err)
		}
		b, err := tx.CreateBucketIfNotExists(bucketSecrets)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(name), value); err != nil {
			return err
		}
		n = getU64(meta, keyLast) + 1
		if err := revs.Put(u64(n), encodeRecord(s.now(), comment, text)); err != nil {
			return err
		}
		if err := meta.Put(keyRunning, u64(n)); err != nil {
			return err
		}
		if err := meta.Put(keyLast, u64(n)); err != nil {
			return err
		}
		return prune(revs, n, s.keep)
	})
	if err != nil {
		return 0, fmt.Errorf("replacing secret %s in %s: %w", name, s.path, err)
	}
	return n, nil
}
