package bff

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/order"
)

// notifyingStage is a lagging stage that says when its read side changes
// an order, as stage 3's projector does.
type notifyingStage struct {
	versionedLagStage
	mu      sync.Mutex
	changed func(order.ID)
}

func (s *notifyingStage) NotifyChanges(changed func(order.ID)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed = changed
}

// project lets the read side catch up with id and says so.
func (s *notifyingStage) project(id order.ID) {
	s.catchUp(id)
	s.mu.Lock()
	f := s.changed
	s.mu.Unlock()
	if f != nil {
		f(id)
	}
}

// TestLiveStreamsCostWhatChangesNotHowLongTheyWait: streams that wait for
// the read side ask it once each when they start and again when it says an
// order changed, not on a timer; a client opens a bounded number of them.
func TestLiveStreamsCostWhatChangesNotHowLongTheyWait(t *testing.T) {
	lag := newLagStage()
	st := &notifyingStage{versionedLagStage: versionedLagStage{lag}}
	s := newLagServer(t, st)
	base, _ := serve(t, s)
	const streams, orders = maxStreamsPerClient, 10
	var ids []order.ID
	target := base + "/live/orders?"
	for i := 0; i < orders; i++ {
		id := testPlace(t, lag, "Waiting Wanda")
		lag.catchUp(id)
		if _, err := lag.ShipOrder(context.Background(), order.ShipOrder{ID: id}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		target += "w=" + id.String() + ".2&"
	}
	start := lag.readCount()
	var all []<-chan sseEvent
	for i := 0; i < streams; i++ {
		_, events := openStream(t, target)
		all = append(all, events)
	}
	// One stream more from the same client is refused.
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("stream %d of one client: %s, want 429", streams+1, resp.Status)
	}
	waitReads(t, lag, start+streams*orders-1)
	time.Sleep(1500 * time.Millisecond) // the streams wait: nothing changes
	waited := lag.readCount() - start
	for _, id := range ids {
		st.project(id)
	}
	for i, events := range all {
		got := map[string]bool{}
		for len(got) < orders {
			ev := nextEvent(t, events)
			if !strings.HasPrefix(ev.name, "order-") {
				t.Fatalf("stream %d: event %q before every order", i, ev.name)
			}
			got[ev.name] = true
		}
		if ev := nextEvent(t, events); ev.name != "done" {
			t.Errorf("stream %d: event %q, want done", i, ev.name)
		}
	}
	reads := lag.readCount() - start
	// Each stream: one look per order when it starts, and one look and one
	// rendering per order that changed.
	if want := 3 * streams * orders; waited > streams*orders || reads > want+streams*orders/2 {
		t.Errorf("%d streams of %d orders read the read side %d times while waiting and %d in all, want about %d",
			streams, orders, waited, reads, want)
	}
	// The streams have ended: the client may open new ones.
	deadline := time.Now().Add(10 * time.Second)
	for s.streams.count("127.0.0.1") > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, events := openStream(t, base+"/live/orders?w="+ids[0].String()+".2")
	if ev := nextEvent(t, events); ev.name != "order-"+ids[0].String() {
		t.Errorf("a stream after the others ended: %q", ev.name)
	}
}
