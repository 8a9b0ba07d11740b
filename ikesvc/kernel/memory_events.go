package kernel

import (
	"context"
	"fmt"
)

// memSub is one Events subscription of a Memory backend. Inject* append to
// queue and poke wake; the subscription's goroutine alone sends on out and
// closes it, so a slow reader never blocks an injector.
type memSub struct {
	queue []Event
	wake  chan struct{}
	out   chan Event
}

// Events implements Backend.
func (m *Memory) Events(ctx context.Context) (<-chan Event, error) {
	sub := &memSub{wake: make(chan struct{}, 1), out: make(chan Event)}
	m.mu.Lock()
	m.subs[sub] = struct{}{}
	m.mu.Unlock()
	go m.deliver(ctx, sub)
	return sub.out, nil
}

func (m *Memory) deliver(ctx context.Context, sub *memSub) {
	defer close(sub.out)
	defer func() {
		m.mu.Lock()
		delete(m.subs, sub)
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.wake:
		}
		m.mu.Lock()
		batch := sub.queue
		sub.queue = nil
		m.mu.Unlock()
		for _, ev := range batch {
			select {
			case sub.out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (m *Memory) broadcastLocked(ev Event) {
	for sub := range m.subs {
		sub.queue = append(sub.queue, ev)
		select {
		case sub.wake <- struct{}{}:
		default: // already poked; the goroutine drains the whole queue
		}
	}
}

// InjectAcquire delivers an acquire to every subscriber, as the kernel does
// when a packet hits a trap policy. Acquires for unowned reqids are dropped,
// like Netlink drops them.
func (m *Memory) InjectAcquire(a Acquire) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.own.ownsReqid(a.Reqid) {
		m.broadcastLocked(Event{Kind: EventAcquire, Acquire: a})
	}
}

// InjectExpire simulates an SA reaching a lifetime limit: it notifies the
// subscribers and, for a hard expire, deletes the SA as the kernel would.
func (m *Memory) InjectExpire(id SAID, hard bool) error {
	id = normalizeID(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.sas[id]
	if !ok || !m.own.ownsSA(e.sa) {
		return fmt.Errorf("kernel: expire %s: %w", id, ErrNotFound)
	}
	kind := EventSoftExpire
	if hard {
		kind = EventHardExpire
		delete(m.sas, id)
	}
	m.broadcastLocked(Event{Kind: kind, Expire: Expire{SA: id, Src: e.sa.Src, Reqid: e.sa.Reqid}})
	return nil
}
