package stage3_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
)

// TestStage3TellsWhichOrdersChanged: once the projector applies an order's
// event, the function NotifyChanges set hears of the order.
func TestStage3TellsWhichOrdersChanged(t *testing.T) {
	b := sqltest.Backends()[0]
	nc, namespace := natstest.Connect(t)
	s, err := stage3.New(stage3.Config{Write: sqltest.Open(t, b, migrations.Write), Read: sqltest.Open(t, b, migrations.Read),
		NATS: nc, Namespace: namespace, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	told := make(chan order.ID, 16)
	s.NotifyChanges(func(id order.ID) { told <- id })
	id := order.NewID()
	if _, err := s.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "1 Loop Rd",
		Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-told:
		if got != id {
			t.Fatalf("told of %s, want %s", got, id)
		}
	case <-ctx.Done():
		t.Fatal("not told of the order placed")
	}
	d, err := s.OrderDetail(ctx, id)
	if err != nil || d.Version != 1 {
		t.Fatalf("when told, the read side has %+v, %v", d, err)
	}
}
