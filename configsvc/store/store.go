// Package store keeps the running configuration and its numbered
// revisions in one bbolt file on the CF config partition.
//
// Layout: bucket "meta" holds format version, running and last revision
// numbers; bucket "revisions" maps a big-endian revision number to a
// record (time, comment, the whole config as set lines); bucket
// "secrets" holds board identity that revisions do not cover (secret.go).
// A commit is one
// bbolt read-write transaction, so bbolt's two fdatasyncs make it durable
// and atomic; a power cut leaves either the old or the new revision
// running. Opening and reading never write to the file, so the CF card
// sees no writes in steady state.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/settext"
)

// DefaultKeep is how many revisions are kept at least.
const DefaultKeep = 50

const formatVersion = 1

var (
	bucketMeta      = []byte("meta")
	bucketRevisions = []byte("revisions")
	keyVersion      = []byte("version")
	keyRunning      = []byte("running")
	keyLast         = []byte("last")
)

// Options tune a Store; the zero value is valid.
type Options struct {
	Keep int              // revisions to keep (at least DefaultKeep when 0)
	Now  func() time.Time // clock for revision times (time.Now when nil)
}

// Store is an open configuration database. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	keep int
	now  func() time.Time
}

// Info describes one revision without its configuration.
type Info struct {
	Number  uint64
	Time    time.Time
	Comment string
}

// Revision is one stored configuration.
type Revision struct {
	Info
	Config *model.Config
}

// ErrNotFound is wrapped when a database file or revision does not exist.
var ErrNotFound = errors.New("not found")

// StaleError refuses a commit whose candidate was based on an older
// running revision than the current one.
type StaleError struct{ Base, Running uint64 }

func (e *StaleError) Error() string {
	return fmt.Sprintf("commit refused: your candidate is based on revision %d, but revision %d was committed meanwhile; "+
		"compare, then discard and apply your changes again", e.Base, e.Running)
}

// InvalidError refuses a commit whose candidate does not validate.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string {
	return "commit refused: invalid configuration:\n" + e.Err.Error()
}
func (e *InvalidError) Unwrap() error { return e.Err }

// CorruptError says the database file cannot be trusted. The file is left
// exactly as found.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("config database %s is corrupt or truncated (left untouched; restore it or move it away to start from defaults): %v", e.Path, e.Err)
}
func (e *CorruptError) Unwrap() error { return e.Err }

func (o Options) fill() Options {
	if o.Keep < DefaultKeep {
		o.Keep = DefaultKeep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Open opens an existing database and checks it from end to end. A
// missing file gives an error wrapping ErrNotFound; an unreadable one a
// *CorruptError. Open writes nothing to the file.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.fill()
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("opening config database %s: %w", path, ErrNotFound)
		}
		return nil, fmt.Errorf("opening config database %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("opening config database %s: not a regular file", path)
	}
	if fi.Size() == 0 {
		// bbolt would initialise an empty file; Create never leaves one
		// behind (it renames a finished file into place), so treat it as
		// damage rather than write to it.
		return nil, &CorruptError{Path: path, Err: fmt.Errorf("file is empty")}
	}
	db, err := openChecked(path, fi.Size())
	if err != nil {
		return nil, err
	}
	return &Store{db: db, path: path, keep: opts.Keep, now: opts.Now}, nil
}

// openChecked opens path with bbolt and verifies it. Faults from reading
// a truncated memory-mapped file become errors instead of crashes.
func openChecked(path string, size int64) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
				db = nil
			}
			err = &CorruptError{Path: path, Err: fmt.Errorf("reading the file faulted: %v", r)}
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("opening config database %s: locked by another process", path)
		}
		return nil, &CorruptError{Path: path, Err: err}
	}
	if err := db.View(func(tx *bolt.Tx) error { return verify(tx, size) }); err != nil {
		db.Close()
		return nil, &CorruptError{Path: path, Err: err}
	}
	return db, nil
}

// verify checks the file size against bbolt's high-water mark, every page
// (tx.Check), and that the running revision decodes and parses.
func verify(tx *bolt.Tx, fileSize int64) error {
	if tx.Size() > fileSize {
		return fmt.Errorf("file has %d bytes but its pages need %d", fileSize, tx.Size())
	}
	var checkErr error
	for err := range tx.Check() { // drain the channel so its goroutine ends
		if checkErr == nil {
			checkErr = fmt.Errorf("page check: %w", err)
		}
	}
	if checkErr != nil {
		return checkErr
	}
	meta := tx.Bucket(bucketMeta)
	revs := tx.Bucket(bucketRevisions)
	if meta == nil || revs == nil {
		return fmt.Errorf("missing meta or revisions bucket: not an alixsec config database")
	}
	if v := getU64(meta, keyVersion); v != formatVersion {
		return fmt.Errorf("format version %d, this firmware reads %d", v, formatVersion)
	}
	running := getU64(meta, keyRunning)
	rec := revs.Get(u64(running))
	if rec == nil {
		return fmt.Errorf("running revision %d is missing", running)
	}
	if _, err := decodeRevision(running, rec); err != nil {
		return fmt.Errorf("running revision %d: %w", running, err)
	}
	return nil
}

// Create makes a new database at path holding initial as revision 1. It
// builds the file under a temporary name and renames it into place, so a
// power cut never leaves a half-initialised database at path. It refuses
// to touch an existing file.
func Create(path string, initial *model.Config, comment string, opts Options) (*Store, error) {
	opts = opts.fill()
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("creating config database %s: file exists", path)
	}
	if err := initial.Validate(); err != nil {
		return nil, fmt.Errorf("creating config database %s: initial config: %w", path, err)
	}
	tmp := path + ".new"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing leftover %s: %w", tmp, err)
	}
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("creating config database %s: %w", tmp, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		revs, err := tx.CreateBucket(bucketRevisions)
		if err != nil {
			return err
		}
		rec := encodeRevision(opts.Now(), comment, initial)
		for _, kv := range []struct {
			b    *bolt.Bucket
			k, v []byte
		}{{meta, keyVersion, u64(formatVersion)}, {meta, keyRunning, u64(1)}, {meta, keyLast, u64(1)}, {revs, u64(1), rec}} {
			if err := kv.b.Put(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("creating config database %s: %w", path, err)
	}
	return Open(path, opts)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close closes the database file.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the database file name.
func (s *Store) Path() string { return s.path }

// Running returns the running revision.
func (s *Store) Running() (*Revision, error) {
	var r *Revision
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = getRevision(tx, getU64(tx.Bucket(bucketMeta), keyRunning))
		return err
	})
	return r, err
}

// Get returns revision n.
func (s *Store) Get(n uint64) (*Revision, error) {
	var r *Revision
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = getRevision(tx, n)
		return err
	})
	return r, err
}

func getRevision(tx *bolt.Tx, n uint64) (*Revision, error) {
	revs := tx.Bucket(bucketRevisions)
	rec := revs.Get(u64(n))
	if rec == nil {
		first, _ := revs.Cursor().First()
		last, _ := revs.Cursor().Last()
		return nil, fmt.Errorf("revision %d: %w (kept: %d..%d)", n, ErrNotFound, be(first), be(last))
	}
	r, err := decodeRevision(n, rec)
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", n, err)
	}
	return r, nil
}

// History lists the kept revisions, newest first.
func (s *Store) History() ([]Info, error) {
	var out []Info
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRevisions).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			info, _, err := decodeHeader(v)
			if err != nil {
				return fmt.Errorf("revision %d: %w", be(k), err)
			}
			info.Number = be(k)
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

// Commit validates cfg and stores it as the new running revision, in one
// fsync'd transaction. base is the running revision the candidate was made
// from; if another commit happened since, it returns a *StaleError. An
// invalid cfg gives an *InvalidError and changes nothing.
func (s *Store) Commit(base uint64, cfg *model.Config, comment string) (uint64, error) {
	if err := cfg.Validate(); err != nil {
		return 0, &InvalidError{Err: err}
	}
	var n uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, revs := tx.Bucket(bucketMeta), tx.Bucket(bucketRevisions)
		if running := getU64(meta, keyRunning); running != base {
			return &StaleError{Base: base, Running: running}
		}
		n = getU64(meta, keyLast) + 1
		if err := revs.Put(u64(n), encodeRevision(s.now(), comment, cfg)); err != nil {
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
		var stale *StaleError
		if errors.As(err, &stale) {
			return 0, err
		}
		return 0, fmt.Errorf("committing revision %d to %s: %w", n, s.path, err)
	}
	return n, nil
}

// prune deletes revisions older than the newest keep ones.
func prune(revs *bolt.Bucket, newest uint64, keep int) error {
	if newest <= uint64(keep) {
		return nil
	}
	limit := newest - uint64(keep)
	c := revs.Cursor()
	for k, _ := c.First(); k != nil && be(k) <= limit; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("pruning revision %d: %w", be(k), err)
		}
	}
	return nil
}

// Compare returns the set-line diff from revision n to revision m.
func (s *Store) Compare(n, m uint64) ([]string, error) {
	a, err := s.Get(n)
	if err != nil {
		return nil, err
	}
	b, err := s.Get(m)
	if err != nil {
		return nil, err
	}
	return settext.Diff(a.Config, b.Config), nil
}

// Record encoding: 1 byte version, 8 bytes time (Unix ns), 4 bytes comment
// length, the comment, then the config as set lines.
func encodeRevision(t time.Time, comment string, cfg *model.Config) []byte {
	return encodeRecord(t, comment, settext.Format(cfg))
}

func encodeRecord(t time.Time, comment string, text []byte) []byte {
	b := make([]byte, 0, 13+len(comment)+len(text))
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(comment)))
	b = append(b, comment...)
	return append(b, text...)
}

func decodeHeader(rec []byte) (Info, []byte, error) {
	if len(rec) < 13 || rec[0] != 1 {
		return Info{}, nil, fmt.Errorf("bad record header")
	}
	t := int64(binary.BigEndian.Uint64(rec[1:9]))
	cl := binary.BigEndian.Uint32(rec[9:13])
	if uint64(cl) > uint64(len(rec)-13) {
		return Info{}, nil, fmt.Errorf("comment length %d exceeds record", cl)
	}
	return Info{Time: time.Unix(0, t), Comment: string(rec[13 : 13+cl])}, rec[13+cl:], nil
}

func decodeRevision(n uint64, rec []byte) (*Revision, error) {
	info, text, err := decodeHeader(rec)
	if err != nil {
		return nil, err
	}
	info.Number = n
	cfg, err := settext.Parse(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("stored config does not parse: %w", err)
	}
	return &Revision{Info: info, Config: cfg}, nil
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func be(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	if b == nil {
		return 0
	}
	return be(b.Get(k))
}
