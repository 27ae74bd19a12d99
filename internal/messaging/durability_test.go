package messaging

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func publishN(t *testing.T, pub message.Publisher, topic string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = watermill.NewUUID()
		m := message.NewMessage(ids[i], fmt.Appendf(nil, "%d", i))
		m.Metadata.Set("n", fmt.Sprint(i))
		if err := pub.Publish(topic, m); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	return ids
}

func receive(t *testing.T, ch <-chan *message.Message, timeout time.Duration) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("messages channel closed")
		}
		return m
	case <-time.After(timeout):
		t.Fatal("no message within", timeout)
	}
	return nil
}

// TestDurableConsumerSurvivesRestart publishes N messages, acks the first half through a
// durable consumer group, stops everything including the embedded server, starts the
// server again on the same store, and checks that exactly the un-acked half arrives.
func TestDurableConsumerSurvivesRestart(t *testing.T) {
	const (
		n      = 40
		half   = n / 2
		topic  = "durability"
		group  = "worker"
		stream = "DURABILITY"
	)
	dir := t.TempDir()
	// A short AckWait: the messages pulled ahead but not acked before the shutdown are
	// delivered again once it expires (JetStream keeps their delivery state on disk).
	ccfg := ConsumerConfig{AckWait: 2 * time.Second}
	topology := []TopicSpec{{Topic: topic, Stream: StreamConfigFor(topic), Consumers: []string{group}}}

	var ids []string
	func() { // first life
		e, err := StartEmbedded(context.Background(), onPort(dir, "127.0.0.1:0"), testLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer e.Shutdown()
		nc, err := Connect(e.URL(), nats.RetryOnFailedConnect(false))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if err := Provision(context.Background(), js, topology, ccfg); err != nil {
			t.Fatal(err)
		}
		pub, err := NewPublisher(nc, PublisherConfig{})
		if err != nil {
			t.Fatal(err)
		}
		ids = publishN(t, pub, topic, n)
		_ = pub.Close()

		sub, err := NewSubscriber(nc, SubscriberConfig{ConsumerGroup: group, Consumer: ccfg})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := sub.Subscribe(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		for i := range half {
			m := receive(t, ch, 10*time.Second)
			if m.UUID != ids[i] {
				t.Fatalf("message %d: got %s, want %s (order)", i, m.UUID, ids[i])
			}
			m.Ack()
		}
		// The next message comes only after the previous one was acked.
		if m := receive(t, ch, 10*time.Second); m.UUID != ids[half] {
			t.Fatalf("message %d: got %s, want %s", half, m.UUID, ids[half])
		} // … and is not acked.
		if err := sub.Close(); err != nil {
			t.Fatalf("close subscriber: %v", err)
		}
		c, err := js.Consumer(context.Background(), stream, group)
		if err != nil {
			t.Fatalf("consumer after subscriber closed: %v", err)
		}
		// Acks are not awaited: the server takes the last ones in a moment.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			info, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.AckFloor.Stream == half {
				break
			}
			if info.AckFloor.Stream > half || time.Now().After(deadline) {
				t.Fatalf("ack floor %d before restart, want %d", info.AckFloor.Stream, half)
			}
		}
	}()

	// Second life: same store, a new server (and port).
	e := startEmbedded(t, dir)
	nc, js := connect(t, e.URL())
	c, err := js.Consumer(context.Background(), stream, group)
	if err != nil {
		t.Fatalf("durable consumer lost in the restart: %v", err)
	}
	if info := c.CachedInfo(); info.AckFloor.Stream != half {
		t.Fatalf("ack floor %d after restart, want %d", info.AckFloor.Stream, half)
	}
	if err := Provision(context.Background(), js, topology, ccfg); err != nil { // as a subscriber does before it binds
		t.Fatal(err)
	}
	sub, err := NewSubscriber(nc, SubscriberConfig{ConsumerGroup: group, Consumer: ccfg})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids[half:] {
		want[id] = true
	}
	got := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(got) < len(want) {
		select {
		case m := <-ch:
			if !want[m.UUID] {
				t.Fatalf("redelivered an acked message %s (n=%s)", m.UUID, m.Metadata.Get("n"))
			}
			got[m.UUID] = true
			m.Ack()
		case <-deadline:
			t.Fatalf("after restart: got %d of the %d un-acked messages", len(got), len(want))
		}
	}
	// Nothing else comes, even after AckWait.
	select {
	case m := <-ch:
		t.Fatalf("unexpected message after all un-acked ones: %s (n=%s)", m.UUID, m.Metadata.Get("n"))
	case <-time.After(ccfg.AckWait + time.Second):
	}
}

// TestPublishDeduplicates checks that a message published twice (same UUID, as the outbox
// forwarder does after a crash) is stored once.
func TestPublishDeduplicates(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	nc, js := connect(t, e.URL())
	pub, err := NewPublisher(nc, PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	id := watermill.NewUUID()
	for range 3 {
		if err := pub.Publish("dedup", message.NewMessage(id, []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish("dedup", message.NewMessage(watermill.NewUUID(), []byte("y"))); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), StreamName("dedup"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != 2 {
		t.Fatalf("stream holds %d messages, want 2 (one per UUID)", got)
	}
	if cfg := st.CachedInfo().Config; cfg.Storage != jetstream.FileStorage || cfg.Duplicates != DefaultDuplicateWindow {
		t.Fatalf("stream config: storage %v, duplicates %v", cfg.Storage, cfg.Duplicates)
	}
}

// TestConsumerGroupSharesWork checks that two instances of a group split the messages,
// each message going to one of them.
func TestConsumerGroupSharesWork(t *testing.T) {
	const n = 200
	e := startEmbedded(t, t.TempDir())
	nc, js := connect(t, e.URL())
	if err := Provision(context.Background(), js, nil, ConsumerConfig{}); err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(nc, PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ids := publishN(t, pub, EventsTopic, n)

	type got struct {
		instance int
		id       string
	}
	results := make(chan got, 2*n)
	for i := range 2 {
		sub, err := NewSubscriber(nc, SubscriberConfig{ConsumerGroup: ProjectorGroup, PullBatch: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		ch, err := sub.Subscribe(context.Background(), EventsTopic)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for m := range ch {
				time.Sleep(time.Millisecond) // a handler that takes some time
				results <- got{i, m.UUID}
				m.Ack()
			}
		}()
	}
	seen := map[string]int{}
	perInstance := [2]int{}
	deadline := time.After(30 * time.Second)
	for len(seen) < n {
		select {
		case r := <-results:
			seen[r.id]++
			perInstance[r.instance]++
		case <-deadline:
			t.Fatalf("received %d of %d", len(seen), n)
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("message %s delivered %d times", id, seen[id])
		}
	}
	if perInstance[0] == 0 || perInstance[1] == 0 {
		t.Errorf("work not shared: %v", perInstance)
	}
	t.Logf("per instance: %v", perInstance)
	info, err := js.Consumer(context.Background(), StreamName(EventsTopic), ProjectorGroup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := info.CachedInfo().Config; cfg.AckPolicy != jetstream.AckExplicitPolicy || cfg.MaxDeliver != -1 || cfg.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Errorf("consumer config: %+v", cfg)
	}
}
