package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Client talks to ikesvc's control socket. It is safe for concurrent use
// (requests are serialised on the one connection).
type Client struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
	path string
}

// Dial connects to the control socket at path.
func Dial(path string) (*Client, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ikesvc is not reachable at %s: %w", path, err)
	}
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64*1024), path: path}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) call(ctx context.Context, req Request) (*Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("ikesvc %s: sending %s: %w", c.path, req.Cmd, err)
	}
	reply, err := c.r.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ikesvc %s: reading the answer to %s: %w", c.path, req.Cmd, err)
	}
	var resp Response
	if err := json.Unmarshal(reply, &resp); err != nil {
		return nil, fmt.Errorf("ikesvc %s: bad answer to %s: %w", c.path, req.Cmd, err)
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return &resp, nil
}

// Show returns the IKE SAs with their CHILD_SAs, sorted by peer name.
func (c *Client) Show(ctx context.Context) ([]IKESA, error) {
	resp, err := c.call(ctx, Request{Cmd: CmdShow})
	if err != nil {
		return nil, err
	}
	return resp.SAs, nil
}

// CRLs returns whether ikesvc fetches CRLs from distribution points and
// the state of each URL it watches, sorted by URL.
func (c *Client) CRLs(ctx context.Context) (CRLFetch, error) {
	resp, err := c.call(ctx, Request{Cmd: CmdCRLs})
	if err != nil {
		return CRLFetch{}, err
	}
	if resp.CRLFetch == nil {
		return CRLFetch{}, fmt.Errorf("ikesvc %s: the answer to %s holds no CRL status", c.path, CmdCRLs)
	}
	return *resp.CRLFetch, nil
}

// Initiate starts the IKE SA of a configured peer (no-op when one is up).
func (c *Client) Initiate(ctx context.Context, peer string) error {
	_, err := c.call(ctx, Request{Cmd: CmdInitiate, Peer: peer})
	return err
}

// InitiateWait starts the IKE SA of a configured peer and waits up to
// wait for the outcome (an established peer reports at once). ctx must
// outlast wait.
func (c *Client) InitiateWait(ctx context.Context, peer string, wait time.Duration) (Outcome, error) {
	resp, err := c.call(ctx, Request{Cmd: CmdInitiate, Peer: peer, WaitMS: max(wait.Milliseconds(), 1)})
	if err != nil {
		return Outcome{}, err
	}
	if resp.Outcome == nil {
		return Outcome{}, fmt.Errorf("ikesvc %s: the answer to %s holds no outcome (an older ikesvc?)", c.path, CmdInitiate)
	}
	return *resp.Outcome, nil
}

// Terminate deletes the IKE and CHILD SAs of a configured peer.
func (c *Client) Terminate(ctx context.Context, peer string) error {
	_, err := c.call(ctx, Request{Cmd: CmdTerminate, Peer: peer})
	return err
}

// Rekey asks for a rekey of a peer's SAs now: kind is child (every
// CHILD_SA), ike (the IKE SA) or reauth (a new IKE SA with IKE_AUTH).
func (c *Client) Rekey(ctx context.Context, peer, kind string) error {
	_, err := c.call(ctx, Request{Cmd: CmdRekey, Peer: peer, Kind: kind})
	return err
}

// SaveKeys makes ikesvc write Wireshark's key tables (ikev2_decryption_table,
// esp_sa) and says where.
func (c *Client) SaveKeys(ctx context.Context) (SavedKeys, error) {
	resp, err := c.call(ctx, Request{Cmd: CmdSaveKeys})
	if err != nil {
		return SavedKeys{}, err
	}
	if resp.Keys == nil {
		return SavedKeys{}, fmt.Errorf("ikesvc %s: the answer to %s says nothing about the keys", c.path, CmdSaveKeys)
	}
	return *resp.Keys, nil
}
