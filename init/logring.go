package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// logRing keeps the newest log lines of init and every service in RAM
// (nothing is written to the CF card). `show log` reads it through a unix
// socket; when remote syslog is configured, each line is also forwarded.
type logRing struct {
	mu       sync.Mutex
	lines    []string // circular buffer of formatted lines
	next     int      // index of the next line to write
	full     bool
	forward  func(line string) // remote syslog, or nil
	now      func() time.Time
	hostname string
}

// logStamp is RFC 3339 in UTC with milliseconds: a handshake or a boot
// takes less than a second, and its steps must be told apart.
const logStamp = "2006-01-02T15:04:05.000Z07:00"

func newLogRing(capacity int, now func() time.Time) *logRing {
	return &logRing{lines: make([]string, capacity), now: now}
}

// add appends one line from source.
func (r *logRing) add(source, msg string) {
	line := fmt.Sprintf("%s %s: %s", r.now().UTC().Format(logStamp), source, msg)
	r.mu.Lock()
	r.lines[r.next] = line
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	forward := r.forward
	r.mu.Unlock()
	if forward != nil {
		forward(source + ": " + msg)
	}
}

// snapshot returns the kept lines, oldest first.
func (r *logRing) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]string(nil), r.lines[:r.next]...)
	}
	out := append([]string(nil), r.lines[r.next:]...)
	return append(out, r.lines[:r.next]...)
}

// setForward sets (or clears, with nil) the remote syslog forwarder.
func (r *logRing) setForward(f func(string)) {
	r.mu.Lock()
	r.forward = f
	r.mu.Unlock()
}

// writer returns an io.Writer that splits its input into lines and adds
// each under source. Partial lines wait for their newline.
func (r *logRing) writer(source string) io.Writer {
	return &lineWriter{ring: r, source: source}
}

type lineWriter struct {
	ring    *logRing
	source  string
	mu      sync.Mutex
	pending []byte
}

// maxLine bounds a line a service writes without a newline.
const maxLine = 1024

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			if len(w.pending) > maxLine {
				i = maxLine
			} else {
				break
			}
		}
		line := string(bytes.TrimRight(w.pending[:i], "\r"))
		w.pending = w.pending[min(i+1, len(w.pending)):]
		if line != "" {
			w.ring.add(w.source, line)
		}
	}
	return len(p), nil
}

// serve answers every connection on l with the whole ring, then closes it.
func (r *logRing) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			for _, line := range r.snapshot() {
				if _, err := io.WriteString(c, line+"\n"); err != nil {
					return
				}
			}
		}()
	}
}

// listenLogSocket serves the ring on a unix socket at path.
func (r *logRing) listenLogSocket(path string) error {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("log socket %s: %w", path, err)
	}
	go r.serve(l)
	return nil
}
