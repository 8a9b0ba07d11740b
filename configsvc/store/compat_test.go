package store

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestNewerFirmwareRevisionOpens: a revision written by a newer firmware
// (set lines for paths or values this one does not know) opens; the known
// lines apply and the others come back as Skipped, so a rollback to an
// older firmware keeps the config instead of refusing (or resetting) it.
func TestNewerFirmwareRevisionOpens(t *testing.T) {
	s, path := newStore(t)
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := "set system hostname gw9\nset system frobnicate on\nset interfaces eth0 address 10.1.0.1/24\nset interfaces eth0 mtu 99999\n"
	err = db.Update(func(tx *bolt.Tx) error {
		// The record header of encodeRevision, then the newer
		// firmware's set lines.
		rec := []byte{1}
		rec = binary.BigEndian.AppendUint64(rec, uint64(time.Now().UnixNano()))
		rec = binary.BigEndian.AppendUint32(rec, uint32(len("from v9")))
		rec = append(append(rec, "from v9"...), text...)
		return tx.Bucket(bucketRevisions).Put(u64(getU64(tx.Bucket(bucketMeta), keyRunning)), rec)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open refused a newer firmware's revision: %v", err)
	}
	defer s2.Close()
	run, err := s2.Running()
	if err != nil {
		t.Fatal(err)
	}
	if run.Config.System.Hostname != "gw9" || run.Config.Interfaces["eth0"] == nil || len(run.Config.Interfaces["eth0"].Addresses) != 1 {
		t.Fatalf("known lines not applied: %+v", run.Config.System)
	}
	if len(run.Skipped) != 2 || !strings.Contains(run.Skipped[0].Error(), "frobnicate") || !strings.Contains(run.Skipped[1].Error(), "mtu") {
		t.Fatalf("Skipped = %v", run.Skipped)
	}
}
