//go:build exercise

// Package check is exercise 02's check: `make exercise 2` runs it. It feeds
// the customers projection through a real event bus (an embedded NATS
// JetStream server) with the copies at-least-once delivery brings, and
// fails until each event counts once however often it arrives — across a
// restart too.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/exercises/02-idempotent-projection/customers"
	"github.com/staircase/staircase/exercises/internal/checkapp"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

const topic = "exercise-customers-events"

func TestEachEventCountsOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bus, err := messaging.StartEmbedded(ctx, messaging.EmbeddedConfig{Dir: filepath.Join(dir, "nats")},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Shutdown)
	nc, err := bus.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	db, err := sqlstore.Open(ctx, "", filepath.Join(dir, "customers.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	// Ada places two orders and cancels one; Grace places one and ships it.
	at := time.Now().UTC().Add(-time.Hour)
	ada1, placedAda1 := place(t, "Ada", 2, at)
	_, placedAda2 := place(t, "Ada", 1, at)
	grace, placedGrace := place(t, "Grace", 4, at)
	cancelAda1, err := ada1.Cancel(order.CancelOrder{ID: ada1.ID, Reason: "changed my mind", ExpectedVersion: 1}, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	shipGrace, err := grace.Ship(order.ShipOrder{ID: grace.ID, ExpectedVersion: 1}, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []customers.Customer{
		{Customer: "Ada", Orders: 2, PlacedCents: 3 * 1250, Cancelled: 1},
		{Customer: "Grace", Orders: 1, PlacedCents: 4 * 1250},
	}

	// Each event once, then copies: the relay sends events again when it
	// stopped before saving how far it got, and JetStream drops a copy only
	// within its duplicate window; a consumer that died before acking gets
	// its events again. The copies come after later events of their order.
	got := run(t, nc, db, "first run",
		placedAda1, placedAda2, placedGrace, cancelAda1, shipGrace,
		placedAda1, cancelAda1, placedGrace, placedAda1, cancelAda1)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after each event was delivered once and some twice or three times, the projection holds\n  %s\nwant\n  %s\n"+
			"A copy of an event already applied must change nothing: make customers.Projection idempotent "+
			"(see exercises/02-idempotent-projection/README.md).", show(got), show(want))
	}

	// A restart: a new projection on the same database, as a new process
	// would make, gets copies of events the last one applied.
	got = run(t, nc, db, "after a restart", placedAda2, cancelAda1, shipGrace, placedGrace)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart, copies of events applied before changed the projection to\n  %s\nwant\n  %s\n"+
			"What the projection knows it applied must be in its database, written in the same transaction "+
			"as its counts, not in memory (see exercises/02-idempotent-projection/README.md).", show(got), show(want))
	}
}

func place(t *testing.T, customer string, qty int, at time.Time) (*order.Order, order.Event) {
	t.Helper()
	o, e, err := order.Place(order.PlaceOrder{ID: uuid.Must(uuid.NewV7()), Customer: customer, Address: "1 Main St",
		Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: qty, UnitPriceCents: 1250}}}, at)
	if err != nil {
		t.Fatal(err)
	}
	return o, e
}

// run starts the projection on db behind a Watermill router on the bus,
// publishes events (each with a message ID of its own, so that the bus
// keeps every copy), waits until the projection handled them all, stops
// it and returns what it holds.
func run(t *testing.T, nc *nats.Conn, db *bun.DB, name string, events ...order.Event) []customers.Customer {
	t.Helper()
	ctx := context.Background()
	p, err := customers.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := messaging.NewSubscriber(nc, messaging.SubscriberConfig{ConsumerGroup: "exercise-customers"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := messaging.NewPublisher(nc, messaging.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	var mu sync.Mutex
	var lastErr error
	r.AddConsumerHandler("customers", topic, sub, func(msg *message.Message) error {
		if err := p.Handle(msg); err != nil {
			mu.Lock()
			lastErr = err
			mu.Unlock()
			return err
		}
		handled.Add(1)
		return nil
	})
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(context.Background()) }()
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("%s: close the router: %v", name, err)
		}
		if err := <-runErr; err != nil {
			t.Errorf("%s: router: %v", name, err)
		}
	}()
	select {
	case <-r.Running():
	case err := <-runErr:
		t.Fatalf("%s: the router did not start: %v", name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: the router did not start within 30 s", name)
	}

	for _, e := range events {
		payload, err := changelog.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), payload)); err != nil {
			t.Fatal(err)
		}
	}
	checkapp.Eventually(t, fmt.Sprintf("%s: the projection handles the %d messages published", name, len(events)), func() bool {
		mu.Lock()
		defer mu.Unlock()
		if lastErr != nil && !errors.Is(lastErr, context.Canceled) {
			t.Logf("%s: the projection failed a message (the bus delivers it again): %v", name, lastErr)
			lastErr = nil
		}
		return handled.Load() >= int64(len(events))
	})
	got, err := p.Customers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func show(cs []customers.Customer) string {
	if len(cs) == 0 {
		return "no customers"
	}
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += "\n  "
		}
		s += fmt.Sprintf("%s: placed %d (%d cents), cancelled %d", c.Customer, c.Orders, c.PlacedCents, c.Cancelled)
	}
	return s
}
