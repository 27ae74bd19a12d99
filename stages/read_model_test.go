package stages_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage0"
	"github.com/staircase/staircase/stages/stage2/query"
)

// TestStage2ReadModelAnswersAsStage0Does fills the orders tables through
// stage 0 and checks that stage 2's read views give every screen the same
// answer that stage 0 computes from its rows. It compares two stages, so it
// lives outside both.
func TestStage2ReadModelAnswersAsStage0Does(t *testing.T) {
	for _, db := range sqltest.OpenAll(t, migrations.Write) {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			crud := stage0.New(db.DB)
			rm := query.New(db.DB)
			var ids []order.ID
			for i := range 7 {
				cmd := order.PlaceOrder{
					ID: order.NewID(), Customer: fmt.Sprintf("Customer %d", i%3), Address: "Somewhere",
					Currency: []string{"USD", "EUR"}[i%2],
					Lines: []order.Line{
						{SKU: "A", Name: "Apple", Quantity: i + 1, UnitPriceCents: 100},
						{SKU: "B", Name: "Banana", Quantity: 1, UnitPriceCents: int64(10 * i)},
					}[:1+i%2],
				}
				if _, err := crud.PlaceOrder(ctx, cmd); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, cmd.ID)
			}
			mustAck(t)(crud.ShipOrder(ctx, order.ShipOrder{ID: ids[0]}))
			mustAck(t)(crud.DeliverOrder(ctx, order.DeliverOrder{ID: ids[0]}))
			mustAck(t)(crud.CancelOrder(ctx, order.CancelOrder{ID: ids[1]}))
			mustAck(t)(crud.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: ids[2], Lines: []order.Line{{SKU: "C", Name: "Cherry", Quantity: 3, UnitPriceCents: 7}}}))

			t.Run("summaries_page_by_page", func(t *testing.T) {
				for _, q := range []order.SummaryQuery{
					{Limit: 3}, {Status: order.Placed, Limit: 2}, {Q: "customer 1"}, {Q: "nobody"},
				} {
					var want, got []order.Summary
					for page := 0; ; page++ {
						w, err := crud.OrderSummaries(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						g, err := rm.OrderSummaries(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						if g.Source != order.ReadModel || g.Next != w.Next {
							t.Fatalf("%+v page %d: source %q, next %q, want next %q", q, page, g.Source, g.Next, w.Next)
						}
						want, got = append(want, w.Orders...), append(got, g.Orders...)
						if g.Next == "" {
							break
						}
						q.After = g.Next
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%+v:\n got %+v\nwant %+v", q, got, want)
					}
				}
			})
			t.Run("detail", func(t *testing.T) {
				for _, id := range ids {
					w, err := crud.OrderDetail(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					g, err := rm.OrderDetail(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					w.Source = order.ReadModel
					if !reflect.DeepEqual(g, w) {
						t.Fatalf("\n got %+v\nwant %+v", g, w)
					}
				}
				if _, err := rm.OrderDetail(ctx, order.NewID()); order.ErrorCode(err) != order.ENOTFOUND {
					t.Fatalf("unknown order: %v", err)
				}
			})
			t.Run("dashboard", func(t *testing.T) {
				w, err := crud.Dashboard(ctx)
				if err != nil {
					t.Fatal(err)
				}
				g, err := rm.Dashboard(ctx)
				if err != nil {
					t.Fatal(err)
				}
				w.Source = order.ReadModel
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("\n got %+v\nwant %+v", g, w)
				}
				if g.Orders != 7 || g.Counts[order.Cancelled] != 1 || len(g.TopCustomers) != 3 {
					t.Fatalf("dashboard %+v", g)
				}
			})
			t.Run("bad_query_is_invalid", func(t *testing.T) {
				if _, err := rm.OrderSummaries(ctx, order.SummaryQuery{Status: "lost"}); order.ErrorCode(err) != order.EINVALID {
					t.Fatalf("bad status: %v", err)
				}
			})
		})
	}
}

func mustAck(t *testing.T) func(order.Ack, error) {
	return func(_ order.Ack, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}
