package messaging

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// TestADeferredAckWaitsForItsSettlement: a handler that takes over its
// messages' answers (DeferAck) gets the next message as soon as it acks,
// while JetStream still counts every one unacknowledged; settled done,
// they are acknowledged, settled not done, delivered again; left unsettled
// when the subscriber goes (a process killed before its commit), delivered
// again after AckWait to the next subscriber.
func TestADeferredAckWaitsForItsSettlement(t *testing.T) {
	const (
		topic = "deferred"
		group = "batcher"
		n     = 5
	)
	e := startEmbedded(t, t.TempDir())
	nc, js := connect(t, e.URL())
	ccfg := ConsumerConfig{AckWait: time.Second}
	stream := StreamConfigFor(topic)
	subscribe := func() (*Subscriber, <-chan *message.Message) {
		t.Helper()
		sub, err := NewSubscriber(nc, SubscriberConfig{ConsumerGroup: group, Consumer: ccfg,
			StreamFor: func(string) StreamConfig { return stream }})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := sub.Subscribe(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		return sub, ch
	}
	pending := func() (ackPending int, ackFloor uint64) {
		t.Helper()
		c, err := js.Consumer(context.Background(), stream.Name, ConsumerName(group))
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.NumAckPending, info.AckFloor.Stream
	}
	pub, err := NewPublisher(nc, PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, ch := subscribe()
	ids := publishN(t, pub, topic, n)

	settles := make([]Settle, n)
	for i := range n {
		m := receive(t, ch, 10*time.Second)
		if m.UUID != ids[i] {
			t.Fatalf("message %d is %s, want %s", i, m.UUID, ids[i])
		}
		s, ok := DeferAck(m.Context())
		if !ok {
			t.Fatal("DeferAck: a message of the Subscriber cannot be deferred")
		}
		settles[i] = s
		m.Ack() // the next one comes at once; JetStream is not told
	}
	waitFor(t, "every message delivered and none acknowledged", func() bool {
		p, floor := pending()
		return p == n && floor == 0
	})

	settles[0](true)
	settles[1](true)
	settles[2](false) // its transaction failed: deliver it again
	settles[2](true)  // too late: the first answer counts
	waitFor(t, "the first two acknowledged", func() bool {
		p, floor := pending()
		return floor == 2 && p == n-2
	})
	if again := receive(t, ch, 10*time.Second); again.UUID != ids[2] {
		t.Fatalf("after a settlement not done came %s, want %s again", again.UUID, ids[2])
	}

	// Messages 3 and 4 are never settled: the subscriber goes, as a killed
	// process does, and the next one gets them after AckWait.
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	sub, ch = subscribe()
	defer sub.Close()
	got := map[string]bool{}
	for len(got) < 3 {
		m := receive(t, ch, 10*time.Second)
		got[m.UUID] = true
		m.Ack()
	}
	for _, id := range ids[2:] {
		if !got[id] {
			t.Fatalf("message %s, never settled, was not delivered again (got %v)", id, got)
		}
	}
	waitFor(t, "every message acknowledged", func() bool {
		p, floor := pending()
		return p == 0 && floor == n
	})
}

// waitFor waits up to 10 s for ok.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("not so within 10 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
