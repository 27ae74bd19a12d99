package bff

import (
	"sync"

	"github.com/staircase/staircase/internal/order"
)

// ChangeNotifier is implemented by a stage whose read side lags behind its
// write side (stage 3), so that the live streams wait to be told an order
// changed instead of asking the read side again and again. A stage without
// it is polled, slowly.
type ChangeNotifier interface {
	// NotifyChanges has the stage call changed with an order's ID each
	// time its read side has committed a change to that order (an event
	// projected), and when a queued command on the order was rejected.
	// A later call replaces the function. changed returns at once and may
	// be called from any goroutine.
	NotifyChanges(changed func(order.ID))
}

// changeHub hands the orders a stage says changed to the streams that
// watch them.
type changeHub struct {
	mu   sync.Mutex
	subs map[order.ID]map[*changeSub]struct{}
}

func newChangeHub() *changeHub {
	return &changeHub{subs: map[order.ID]map[*changeSub]struct{}{}}
}

// changeSub is one stream's subscription: the orders it watches that
// changed since it last looked, and a wake-up when there are some.
type changeSub struct {
	hub  *changeHub
	ids  []order.ID
	wake chan struct{}

	mu      sync.Mutex
	changed map[order.ID]bool
}

// subscribe starts telling the subscription about changes to ids.
func (h *changeHub) subscribe(ids []order.ID) *changeSub {
	sub := &changeSub{hub: h, ids: ids, wake: make(chan struct{}, 1), changed: map[order.ID]bool{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if h.subs[id] == nil {
			h.subs[id] = map[*changeSub]struct{}{}
		}
		h.subs[id][sub] = struct{}{}
	}
	return sub
}

// publish tells the streams watching id that it changed. It never waits
// for a stream.
func (h *changeHub) publish(id order.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[id] {
		sub.mu.Lock()
		sub.changed[id] = true
		sub.mu.Unlock()
		select {
		case sub.wake <- struct{}{}:
		default: // already woken
		}
	}
}

// take returns the watched orders that changed since the last take.
func (sub *changeSub) take() map[order.ID]bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	out := sub.changed
	sub.changed = map[order.ID]bool{}
	return out
}

// close ends the subscription.
func (sub *changeSub) close() {
	h := sub.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range sub.ids {
		delete(h.subs[id], sub)
		if len(h.subs[id]) == 0 {
			delete(h.subs, id)
		}
	}
}

// maxStreamsPerClient bounds the server-sent event streams one client
// address holds open: each costs a connection and a goroutine.
const maxStreamsPerClient = 8

// streamCounts counts the open streams per client address.
type streamCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts a new stream of client, unless it has its fill.
func (s *streamCounts) acquire(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	if s.n[client] >= maxStreamsPerClient {
		return false
	}
	s.n[client]++
	return true
}

func (s *streamCounts) release(client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[client]--; s.n[client] <= 0 {
		delete(s.n, client)
	}
}

func (s *streamCounts) count(client string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[client]
}
