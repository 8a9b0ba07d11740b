// Package testserver runs a real configsvc server on a temporary socket
// and bbolt file for tests of its clients.
package testserver

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"alixsec.dev/configsvc/model"
	"alixsec.dev/configsvc/server"
	"alixsec.dev/configsvc/store"
)

// Server is a running test instance.
type Server struct {
	Socket string
	DB     string
	Store  *store.Store
}

// Start creates a database with the board's default config and serves it
// until the test ends.
func Start(t testing.TB, board string) *Server {
	t.Helper()
	// Unix socket paths are limited to 108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "cfgsvc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	def, err := model.Default(board)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "config.db")
	st, err := store.Create(db, def, "factory default", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "configsvc.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, func(string, ...any) {})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		st.Close()
	})
	return &Server{Socket: sock, DB: db, Store: st}
}
