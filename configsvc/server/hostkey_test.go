package server

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"alixsec.dev/configsvc/api"
)

// TestHostKeyOverAPI: the key is made once, kept across calls and
// rollbacks, and a regeneration is a committed revision that wakes
// followers and makes older edit sessions stale.
func TestHostKeyOverAPI(t *testing.T) {
	_, sock := start(t)
	ctx := context.Background()
	c, err := api.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key, fp, err := c.HostKey(ctx)
	if err != nil || len(key) == 0 || !strings.HasPrefix(fp, "ED25519 SHA256:") {
		t.Fatalf("HostKey = %d bytes, %q, %v", len(key), fp, err)
	}
	again, fp2, err := c.HostKey(ctx)
	if err != nil || !bytes.Equal(key, again) || fp2 != fp {
		t.Fatalf("second HostKey changed the key: %q -> %q (%v)", fp, fp2, err)
	}
	sess, err := c.OpenSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan uint64, 1)
	go func() {
		snap, err := c.WaitCommit(ctx, 1)
		if err == nil {
			woke <- snap.Revision
		}
	}()
	n, newFP, err := c.RegenerateHostKey(ctx)
	if err != nil || n != 2 || newFP == fp {
		t.Fatalf("RegenerateHostKey = %d, %q, %v; want revision 2 and a new key", n, newFP, err)
	}
	select {
	case got := <-woke:
		if got != 2 {
			t.Fatalf("follower woke with revision %d", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a follower was not woken by the host key change")
	}
	_, revs, err := c.History(ctx)
	if err != nil || !strings.Contains(revs[0].Comment, newFP) || !strings.Contains(revs[0].Comment, fp) {
		t.Fatalf("history: %+v, %v; want a comment naming both fingerprints", revs, err)
	}
	if _, err := sess.Commit(ctx, "stale"); !api.IsCode(err, api.CodeStale) {
		t.Fatalf("commit of a session opened before the regeneration: %v, want stale", err)
	}
	if err := sess.Rollback(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Commit(ctx, "rollback 1"); err != nil {
		t.Fatal(err)
	}
	if _, fp3, _ := c.HostKey(ctx); fp3 != newFP {
		t.Fatalf("rollback to revision 1 changed the host key to %q, want %q", fp3, newFP)
	}
}
