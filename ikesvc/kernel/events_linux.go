package kernel

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Events implements Backend. It subscribes its own socket, in the backend's
// namespace, to the XFRM acquire and expire multicast groups. (netlink
// v1.3.1's XfrmMonitor cannot be used: it subscribes in the calling thread's
// namespace and knows only expires.)
func (n *Netlink) Events(ctx context.Context) (<-chan Event, error) {
	s, err := nl.SubscribeAt(n.ns, netns.None(), unix.NETLINK_XFRM, nl.XFRMNLGRP_ACQUIRE, nl.XFRMNLGRP_EXPIRE)
	if err != nil {
		return nil, fmt.Errorf("kernel: subscribe to XFRM acquire/expire events: %w", err)
	}
	out := make(chan Event, 16)
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		s.Close() // unblocks Receive
	}()
	go func() {
		defer close(out)
		defer close(stop)
		for {
			msgs, from, err := s.Receive()
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				// The socket buffer overflowed: some events are lost. The
				// next Apply still converges; a lost acquire is retried by
				// the kernel on the next packet after the larval state ends.
				n.logf("kernel: XFRM event socket overflowed; events lost")
				continue
			}
			if err != nil {
				n.logf("kernel: XFRM events stopped: %v", err)
				return
			}
			if from.Pid != nl.PidKernel {
				continue // only the kernel may speak on this group
			}
			for _, m := range msgs {
				ev, ok := n.decodeEvent(m.Header.Type, m.Data)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// decodeEvent turns one multicast message into an Event for an owned entry.
func (n *Netlink) decodeEvent(msgType uint16, data []byte) (Event, bool) {
	ev, err := decodeEvent(msgType, data)
	if err != nil {
		n.logf("kernel: %v", err)
		return Event{}, false
	}
	switch ev.Kind {
	case EventAcquire:
		return ev, n.own.ownsReqid(ev.Acquire.Reqid)
	case EventSoftExpire, EventHardExpire:
		return ev, n.own.ownsReqid(ev.Expire.Reqid)
	}
	return Event{}, false
}

// decodeEvent decodes acquires and ESP expires; other types give Kind 0.
func decodeEvent(msgType uint16, data []byte) (Event, error) {
	switch msgType {
	case nl.XFRM_MSG_ACQUIRE:
		a, err := parseAcquire(data)
		if err != nil {
			return Event{}, err
		}
		return Event{Kind: EventAcquire, Acquire: a}, nil
	case nl.XFRM_MSG_EXPIRE:
		ex, hard, proto, err := parseExpire(data)
		if err != nil {
			return Event{}, err
		}
		if proto != unix.IPPROTO_ESP {
			return Event{}, nil
		}
		kind := EventSoftExpire
		if hard {
			kind = EventHardExpire
		}
		return Event{Kind: kind, Expire: ex}, nil
	}
	return Event{}, nil
}
