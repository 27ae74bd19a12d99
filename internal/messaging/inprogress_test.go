package messaging

import (
	"context"
	"testing"
	"time"
)

// TestAMessageHeldInProgressIsNotDeliveredAgain: a handler that holds a
// message for several AckWaits, reporting it in progress, gets no second
// delivery, and its ack counts; without the reports the message comes
// again.
func TestAMessageHeldInProgressIsNotDeliveredAgain(t *testing.T) {
	const (
		topic = "inprogress"
		group = "holder"
	)
	e := startEmbedded(t, t.TempDir())
	nc, _ := connect(t, e.URL())
	ccfg := ConsumerConfig{AckWait: time.Second}
	pub, err := NewPublisher(nc, PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := NewSubscriber(nc, SubscriberConfig{ConsumerGroup: group, Consumer: ccfg, PullBatch: 1,
		StreamFor: func(string) StreamConfig { return StreamConfigFor(topic) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	ids := publishN(t, pub, topic, 2)

	m := receive(t, ch, 10*time.Second)
	if m.UUID != ids[0] {
		t.Fatalf("got %s, want %s", m.UUID, ids[0])
	}
	// Held for 3 AckWaits, in progress every 300 ms.
	for range 10 {
		time.Sleep(300 * time.Millisecond)
		if err := InProgress(m.Context()); err != nil {
			t.Fatalf("InProgress: %v", err)
		}
	}
	m.Ack()
	next := receive(t, ch, 10*time.Second)
	if next.UUID != ids[1] {
		t.Fatalf("after the held message came %s, want the next one %s (the held one again?)", next.UUID, ids[1])
	}
	next.Ack()
	select {
	case again := <-ch:
		t.Fatalf("delivered again: %s", again.UUID)
	case <-time.After(2500 * time.Millisecond):
	}

	// Not reported, a message held past AckWait comes again.
	ids = publishN(t, pub, topic, 1)
	m = receive(t, ch, 10*time.Second)
	if m.UUID != ids[0] {
		t.Fatalf("got %s, want %s", m.UUID, ids[0])
	}
	time.Sleep(1500 * time.Millisecond)
	m.Ack() // too late: nobody listens
	if again := receive(t, ch, 10*time.Second); again.UUID != ids[0] {
		t.Fatalf("got %s, want %s again", again.UUID, ids[0])
	}
}
