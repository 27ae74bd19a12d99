package commandbus_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

// Concurrent publishes through the group publisher are each stored once,
// in each publisher's order, whether the stream takes atomic batches (one
// batch per group) or not (asynchronous publishes, all acks awaited).
func TestGroupPublisherStoresEveryPublishOnce(t *testing.T) {
	for _, batches := range []bool{true, false} {
		t.Run("atomic_batches="+strconv.FormatBool(batches), func(t *testing.T) {
			ctx := context.Background()
			nc, namespace := natstest.Connect(t)
			topic := namespace + messaging.CommandsTopic + "-group"
			cfg := messaging.StreamConfigFor(topic)
			cfg.AtomicBatches = batches
			pub, err := messaging.NewPublisher(nc, messaging.PublisherConfig{StreamFor: func(string) messaging.StreamConfig { return cfg }})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			stream, err := messaging.EnsureStream(ctx, js, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = js.DeleteStream(context.Background(), cfg.Name) })
			g := commandbus.NewGroupPublisher(pub, 2) // every group of two or more as a batch, where taken
			const writers, each = 16, 40
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						m := message.NewMessage(strconv.Itoa(w)+"-"+strconv.Itoa(i), []byte(strconv.Itoa(i)))
						m.Metadata.Set("writer", strconv.Itoa(w))
						if err := g.Publish(topic, m); err != nil {
							t.Errorf("publish %s: %v", m.UUID, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if err := g.Publish(topic, message.NewMessage("late", nil)); err == nil {
				t.Error("a publish after Close succeeded")
			}
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != writers*each {
				t.Fatalf("the stream holds %d messages, want %d", info.State.Msgs, writers*each)
			}
			cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
			if err != nil {
				t.Fatal(err)
			}
			next := map[string]int{}
			seen := map[string]bool{}
			for range writers * each {
				msg, err := cons.Next()
				if err != nil {
					t.Fatal(err)
				}
				id := msg.Headers().Get("_watermill_message_uuid")
				if seen[id] {
					t.Fatalf("message %s stored twice", id)
				}
				seen[id] = true
				w := msg.Headers().Get("writer")
				if got := string(msg.Data()); got != strconv.Itoa(next[w]) {
					t.Fatalf("writer %s: message %s stored after %d, want in order", w, got, next[w])
				}
				next[w]++
			}
		})
	}
}
