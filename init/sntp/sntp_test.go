package sntp

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// fakeServer answers SNTP requests on loopback as a server whose clock is
// ahead of ours by skew; mutate can spoil the reply.
func fakeServer(t *testing.T, skew time.Duration, mutate func([]byte)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 128)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			reply := make([]byte, 48)
			reply[0] = 0<<6 | 4<<3 | 4
			reply[1] = 2
			copy(reply[24:32], buf[40:48])
			now := time.Now().Add(skew)
			putTimestamp(reply[32:], now)
			putTimestamp(reply[40:], now)
			if mutate != nil {
				mutate(reply)
			}
			pc.WriteTo(reply, addr)
		}
	}()
	return pc.LocalAddr().String()
}

func TestQuery(t *testing.T) {
	tests := []struct {
		name    string
		skew    time.Duration
		mutate  func([]byte)
		wantErr error
	}{
		{name: "server ahead one hour", skew: time.Hour},
		{name: "server behind 40 years", skew: -40 * 365 * 24 * time.Hour},
		{name: "kiss of death", mutate: func(b []byte) { b[1] = 0; copy(b[12:], "RATE") }, wantErr: ErrKissOfDeath},
		{name: "wrong origin", mutate: func(b []byte) { b[24] ^= 0xff }, wantErr: ErrBadReply},
		{name: "not a server reply", mutate: func(b []byte) { b[0] = 4<<3 | 3 }, wantErr: ErrBadReply},
		{name: "unsynchronized", mutate: func(b []byte) { b[0] |= 3 << 6 }, wantErr: ErrBadReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, tt.skew, tt.mutate)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			res, err := Query(ctx, addr, time.Now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := res.Offset - tt.skew; d > 50*time.Millisecond || d < -50*time.Millisecond {
				t.Fatalf("offset %v, want about %v", res.Offset, tt.skew)
			}
		})
	}
}

func TestTimestampRoundTrip(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2026, 11, 27, 12, 0, 0, 500_000_000, time.UTC),
		time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), // NTP era 1
	} {
		b := make([]byte, 8)
		putTimestamp(b, ts)
		if got := getTimestamp(b); got.Sub(ts).Abs() > time.Microsecond {
			t.Errorf("round trip of %v gave %v", ts, got)
		}
	}
}
