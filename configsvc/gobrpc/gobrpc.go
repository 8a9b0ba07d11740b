// Package gobrpc serves net/rpc's gob wire protocol with typed handlers
// instead of reflection, so any net/rpc client (rpc.NewClient) talks to it
// unchanged.
//
// Why not net/rpc's own server: it invokes methods with reflect.Value.Call,
// and on GOARCH=386 that path runs through assembly (runtime callNN and
// callRet, the latter without the NO_LOCAL_POINTERS annotation amd64 has).
// configsvc on a 386 board died twice with a Go runtime fatal error while
// net/rpc's reflective call was on the stack (once "missing stackmap"
// during a stack shrink, once in CI under the CRL fetch test). Here each
// method is a plain generic closure: the firmware's busybox links no
// reflective call path at all (scripts/imagetest checks that).
package gobrpc

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/rpc"
	"reflect"
	"slices"
	"sync"
)

// handler decodes a call's arguments with dec and returns the call, ready
// to run: decoding must follow the stream's order, running need not.
type handler func(dec func(any) error) (call func() (reply any, errText string), err error)

// Mux maps "Service.Method" names to handlers. Register everything before
// serving; a Mux is read-only afterwards and may serve many connections.
type Mux struct {
	handlers map[string]handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: map[string]handler{}} }

// Handle registers fn as name ("Service.Method"), with net/rpc's method
// shape: fn fills *R from A; a non-nil error goes back to the client as
// the call's error (an rpc.ServerError) and the reply is not sent.
func Handle[A, R any](m *Mux, name string, fn func(A, *R) error) {
	if _, dup := m.handlers[name]; dup {
		panic("gobrpc: duplicate handler " + name)
	}
	m.handlers[name] = func(dec func(any) error) (func() (any, string), error) {
		var args A
		if err := dec(&args); err != nil {
			return nil, fmt.Errorf("decoding arguments of %s: %w", name, err)
		}
		return func() (any, string) {
			reply := new(R)
			if err := fn(args, reply); err != nil {
				return noReply{}, err.Error()
			}
			return reply, ""
		}, nil
	}
}

// noReply is the body sent with an error response, as net/rpc does.
type noReply struct{}

// conn is one client connection: requests are read in order, each call
// runs in its own goroutine (a long poll must not hold up the others),
// and responses are written whole under sendMu.
type conn struct {
	dec    *gob.Decoder
	sendMu sync.Mutex
	buf    *bufio.Writer
	enc    *gob.Encoder
}

// ServeConn answers calls on rwc until the client closes it or sends
// something undecodable, waits for the calls in flight, and closes rwc.
// It returns nil when the client hung up.
func (m *Mux) ServeConn(rwc io.ReadWriteCloser) error {
	buf := bufio.NewWriter(rwc)
	c := &conn{dec: gob.NewDecoder(bufio.NewReader(rwc)), buf: buf, enc: gob.NewEncoder(buf)}
	var calls sync.WaitGroup
	defer func() {
		calls.Wait()
		rwc.Close()
	}()
	for {
		var req rpc.Request
		if err := c.dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading request header: %w", err)
		}
		h, ok := m.handlers[req.ServiceMethod]
		if !ok {
			// Consume the body so the stream stays in step.
			if err := c.dec.DecodeValue(reflect.Value{}); err != nil {
				return fmt.Errorf("skipping arguments of unknown method %q: %w", req.ServiceMethod, err)
			}
			if err := c.send(&req, noReply{}, "rpc: can't find method "+req.ServiceMethod); err != nil {
				return err
			}
			continue
		}
		call, err := h(c.dec.Decode)
		if err != nil {
			return err
		}
		calls.Add(1)
		go func(req rpc.Request) {
			defer calls.Done()
			reply, errText := call()
			if err := c.send(&req, reply, errText); err != nil {
				// The client is gone or the stream is broken: closing
				// ends the read loop too.
				rwc.Close()
			}
		}(req)
	}
}

// send writes one response: header, then body, then flush.
func (c *conn) send(req *rpc.Request, body any, errText string) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	resp := rpc.Response{ServiceMethod: req.ServiceMethod, Seq: req.Seq, Error: errText}
	if err := c.enc.Encode(&resp); err != nil {
		return fmt.Errorf("writing response header for %s: %w", req.ServiceMethod, err)
	}
	if err := c.enc.Encode(body); err != nil {
		return fmt.Errorf("writing reply of %s: %w", req.ServiceMethod, err)
	}
	if err := c.buf.Flush(); err != nil {
		return fmt.Errorf("sending reply of %s: %w", req.ServiceMethod, err)
	}
	return nil
}

// Names returns the registered method names, sorted.
func (m *Mux) Names() []string {
	return slices.Sorted(maps.Keys(m.handlers))
}
