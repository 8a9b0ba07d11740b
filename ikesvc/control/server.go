package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"alixsec.dev/ikesvc/ike"
)

// Listen opens the unix socket at path, replacing a stale socket file left
// by a previous run (but never a regular file).
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

// Serve answers clients on ln until ctx ends; it then closes ln and waits
// for the open connections to finish their current request.
func Serve(ctx context.Context, ln net.Listener, svc Service, logf func(string, ...any)) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveConn(ctx, conn, svc, logf)
		}()
	}
}

func serveConn(ctx context.Context, conn net.Conn, svc Service, logf func(string, ...any)) {
	defer conn.Close()
	done := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer done()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	enc := json.NewEncoder(conn)
	for sc.Scan() {
		var req Request
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = fmt.Sprintf("bad request: %v", err)
		} else {
			resp = handle(ctx, svc, req)
		}
		if err := enc.Encode(&resp); err != nil {
			logf("control: writing response to %q: %v", req.Cmd, err)
			return
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		logf("control: reading request: %v", err)
	}
}

func handle(ctx context.Context, svc Service, req Request) Response {
	var err error
	switch req.Cmd {
	case CmdShow:
		sas := svc.Status(ctx)
		if sas == nil {
			sas = []IKESA{}
		}
		return Response{SAs: sas}
	case CmdCRLs:
		var st CRLFetch
		if cs, ok := svc.(CRLService); ok {
			st = cs.CRLFetchStatus()
		}
		if st.URLs == nil {
			st.URLs = []CRL{}
		}
		return Response{CRLFetch: &st}
	case CmdSaveKeys:
		ks, ok := svc.(KeyService)
		if !ok {
			return Response{Error: "this ikesvc cannot save keys"}
		}
		saved, err := ks.SaveKeys()
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Keys: &saved}
	case CmdInitiate:
		if w, ok := svc.(InitiateWaiter); ok && req.WaitMS > 0 {
			return initiateWait(ctx, w, req)
		}
		err = svc.Initiate(req.Peer)
	case CmdTerminate:
		err = svc.Terminate(req.Peer)
	case CmdRekey:
		if rs, ok := svc.(RekeyService); ok {
			kind := ike.RekeyKind(req.Kind)
			if kind == "" {
				kind = ike.RekeyChild
			}
			err = rs.Rekey(req.Peer, kind)
		} else {
			err = fmt.Errorf("rekey %s: not supported by this service", req.Peer)
		}
	default:
		err = fmt.Errorf("unknown command %q (want show, crls, initiate, terminate, rekey or save-keys)", req.Cmd)
	}
	if err != nil {
		return Response{Error: err.Error()}
	}
	return Response{}
}

// maxWait bounds an initiate's wait_ms, so a client cannot park a
// connection for ever.
const maxWait = 5 * time.Minute

func initiateWait(ctx context.Context, w InitiateWaiter, req Request) Response {
	ctx, cancel := context.WithTimeout(ctx, min(time.Duration(req.WaitMS)*time.Millisecond, maxWait))
	defer cancel()
	o, err := w.InitiateWait(ctx, req.Peer)
	if err != nil {
		return Response{Error: err.Error()}
	}
	return Response{Outcome: &o}
}
