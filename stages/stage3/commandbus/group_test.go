package commandbus_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

// Concurrent publishes through the group publisher are each stored once,
// in each publisher's order, whether alone or in a group message.
func TestGroupPublisherStoresEveryPublishOnce(t *testing.T) {
	ctx := context.Background()
	nc, namespace := natstest.Connect(t)
	topic := namespace + messaging.CommandsTopic + "-group"
	cfg := messaging.StreamConfigFor(topic)
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
	g := commandbus.NewGroupPublisher(pub)
	const writers, each = 16, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				cmd := commandbus.BusCommand{Type: commandbus.TypeShip, OrderID: order.NewID(), Ship: &order.ShipOrder{ExpectedVersion: i}}
				m, err := commandbus.CommandMarshaler.Marshal(&cmd)
				if err != nil {
					t.Error(err)
					return
				}
				m.UUID = strconv.Itoa(w) + "-" + strconv.Itoa(i)
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
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	seen := map[string]bool{}
	groups := 0
	for range info.State.Msgs {
		jm, err := cons.Next()
		if err != nil {
			t.Fatal(err)
		}
		m, err := (&wmnats.NATSMarshaler{}).Unmarshal(&nats.Msg{Subject: jm.Subject(), Header: jm.Headers(), Data: jm.Data()})
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := commandbus.Unpack(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(cmds) > 1 {
			groups++
		}
		for _, c := range cmds {
			if seen[c.UUID] {
				t.Fatalf("command %s stored twice", c.UUID)
			}
			seen[c.UUID] = true
			var bc commandbus.BusCommand
			if err := commandbus.CommandMarshaler.Unmarshal(c, &bc); err != nil {
				t.Fatal(err)
			}
			w := c.Metadata.Get("writer")
			if got := bc.Ship.ExpectedVersion; got != next[w] {
				t.Fatalf("writer %s: command %d stored after %d, want in order", w, got, next[w])
			}
			next[w]++
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("the stream holds %d commands, want %d", len(seen), writers*each)
	}
	t.Logf("%d commands in %d messages, %d of them groups", len(seen), info.State.Msgs, groups)
}
