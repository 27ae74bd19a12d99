package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// TestResetWhileServing: the running app's reset empties both sides of
// orders placed in every stage, queued commands included, then seeds
// fresh ones that stage 3's read side picks up from the change log.
func TestResetWhileServing(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			a, err := app.New(ctx, app.Config{DataDir: t.TempDir(), WriteDB: b.URL(t), ReadDB: b.URL(t), Stage: 3, Workshop: true,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			// Orders on both sides, and events held back on the bus.
			for range 20 {
				if _, err := a.Stage3.PlaceOrder(ctx, order.PlaceOrder{ID: order.NewID(), Customer: "Grace", Address: "2 Heap Lane",
					Lines: []order.Line{{SKU: "CUP-02", Name: "Cup", Quantity: 2, UnitPriceCents: 800}}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.Reset(ctx, 0); err != nil {
				t.Fatal(err)
			}
			for _, side := range []struct {
				name string
				n    func() (int64, error)
			}{
				{"write", func() (int64, error) { return a.WriteDB.NewSelect().TableExpr("orders").Count(ctx) }},
				{"change log", func() (int64, error) { return a.WriteDB.NewSelect().TableExpr("change_log").Count(ctx) }},
				{"read", func() (int64, error) { return a.ReadDB.NewSelect().TableExpr("order_views").Count(ctx) }},
			} {
				if n, err := side.n(); err != nil || n != 0 {
					t.Errorf("%s side after the reset: %d rows (%v)", side.name, n, err)
				}
			}
			if d, err := a.Stage3.Dashboard(ctx); err != nil || d.Orders != 0 || len(d.TopCustomers) != 0 {
				t.Errorf("the dashboard after the reset: %d orders, %d top customers (%v)", d.Orders, len(d.TopCustomers), err)
			}
			// Nothing on its way lands after it.
			time.Sleep(300 * time.Millisecond) // a late event would land within this
			if n, _ := a.ReadDB.NewSelect().TableExpr("order_views").Count(ctx); n != 0 {
				t.Errorf("%d orders reappeared on the read side after the reset", n)
			}

			if err := a.Reset(ctx, 40); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				d, err := a.Stage3.Dashboard(ctx)
				if err == nil && d.Orders == 40 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after a reset seeding 40 orders the read side counts %d (%v)", d.Orders, err)
				}
				time.Sleep(50 * time.Millisecond) // polling the read side
			}
		})
	}
}
