package gobrpc

import (
	"errors"
	"net"
	"net/rpc"
	"strings"
	"testing"
	"time"
)

type sumArgs struct{ A, B int }
type sumReply struct{ Sum int }

// serve starts m on one end of a pipe and returns a stock net/rpc client
// on the other and a channel with ServeConn's result.
func serve(t *testing.T, m *Mux) (*rpc.Client, net.Conn, <-chan error) {
	t.Helper()
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- m.ServeConn(server) }()
	c := rpc.NewClient(client)
	t.Cleanup(func() { c.Close() })
	return c, client, done
}

func testMux(release <-chan struct{}) *Mux {
	m := NewMux()
	Handle(m, "T.Sum", func(a sumArgs, r *sumReply) error { r.Sum = a.A + a.B; return nil })
	Handle(m, "T.Fail", func(a sumArgs, r *sumReply) error { return errors.New("no sums today") })
	Handle(m, "T.Block", func(_ struct{}, r *sumReply) error { <-release; r.Sum = 42; return nil })
	return m
}

func TestCallsFromTheStockClient(t *testing.T) {
	c, _, _ := serve(t, testMux(nil))
	tests := []struct {
		method  string
		args    any
		want    int
		wantErr string
	}{
		{"T.Sum", sumArgs{2, 3}, 5, ""},
		{"T.Fail", sumArgs{1, 1}, 0, "no sums today"},
		{"T.Nope", sumArgs{1, 1}, 0, "rpc: can't find method T.Nope"},
		{"T.Sum", sumArgs{-7, 7}, 0, ""}, // the stream is still in step after the failures
		{"T.Sum", sumArgs{1 << 20, 1}, 1<<20 + 1, ""},
	}
	for _, tt := range tests {
		var r sumReply
		err := c.Call(tt.method, tt.args, &r)
		if tt.wantErr != "" {
			var se rpc.ServerError
			if !errors.As(err, &se) || string(se) != tt.wantErr {
				t.Errorf("%s(%v): error %v, want server error %q", tt.method, tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || r.Sum != tt.want {
			t.Errorf("%s(%v) = %d, %v; want %d", tt.method, tt.args, r.Sum, err, tt.want)
		}
	}
}

func TestLongCallDoesNotHoldUpOthers(t *testing.T) {
	release := make(chan struct{})
	c, _, _ := serve(t, testMux(release))
	blocked := c.Go("T.Block", struct{}{}, new(sumReply), nil)
	for i := 0; i < 50; i++ {
		var r sumReply
		if err := c.Call("T.Sum", sumArgs{i, 1}, &r); err != nil || r.Sum != i+1 {
			t.Fatalf("call %d behind a blocked one: %d, %v", i, r.Sum, err)
		}
	}
	select {
	case <-blocked.Done:
		t.Fatal("blocked call finished before it was released")
	default:
	}
	close(release)
	select {
	case <-blocked.Done:
		if blocked.Error != nil || blocked.Reply.(*sumReply).Sum != 42 {
			t.Fatalf("released call: %v, %+v", blocked.Error, blocked.Reply)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("released call never answered")
	}
}

func TestServeConnEndsWithTheClient(t *testing.T) {
	release := make(chan struct{})
	c, _, done := serve(t, testMux(release))
	c.Go("T.Block", struct{}{}, new(sumReply), nil)
	time.Sleep(10 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		t.Fatalf("ServeConn returned (%v) with a call still running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeConn after the client hung up: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not return after the client hung up")
	}
}

func TestGarbageEndsTheConnectionWithAnError(t *testing.T) {
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- testMux(nil).ServeConn(server) }()
	go client.Write([]byte("\x05hello, this is not gob at all"))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "reading request header") {
			t.Fatalf("ServeConn on garbage: %v, want a header error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not give up on garbage")
	}
	client.Close()
}

func TestWrongArgumentTypeEndsTheConnection(t *testing.T) {
	c, _, done := serve(t, testMux(nil))
	err := c.Call("T.Sum", struct{ X string }{"seven"}, new(sumReply))
	if err == nil {
		t.Fatal("call with mismatched arguments succeeded")
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "decoding arguments of T.Sum") {
			t.Fatalf("ServeConn: %v, want an argument decoding error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn kept going after undecodable arguments")
	}
}

func TestDuplicateHandlerPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("second Handle of the same name did not panic")
		}
	}()
	m := NewMux()
	Handle(m, "T.Sum", func(a sumArgs, r *sumReply) error { return nil })
	Handle(m, "T.Sum", func(a sumArgs, r *sumReply) error { return nil })
}
