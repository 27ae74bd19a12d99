package projection_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// TestReadModelAnswersAsStage2Does places and changes orders through stage
// 3's write model, projects the events it records into a separate read
// database, and checks that every screen gets the answer stage 2's read
// model gives from the database of record (recordModel, record_test.go).
func TestReadModelAnswersAsStage2Does(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		write, read := openWrite(t, b), openRead(t, b)
		var mu sync.Mutex
		var events []order.Event
		log := func(_ context.Context, _ bun.Tx, es []order.Event) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, es...)
			return nil
		}
		h := command.New(command.NewRepository(write, command.WithChangeLog(log)))
		var ids []order.ID
		for i := range 9 {
			cmd := order.PlaceOrder{
				ID: order.NewID(), Customer: fmt.Sprintf("Customer %d", i%3), Address: "Somewhere",
				Currency: []string{"USD", "EUR", "GBP"}[i%3],
				Lines: []order.Line{
					{SKU: "A", Name: "Apple", Quantity: i + 1, UnitPriceCents: 100},
					{SKU: "B", Name: "Banana", Quantity: 1, UnitPriceCents: int64(10 * i)},
				}[:1+i%2],
			}
			mustAck(t)(h.PlaceOrder(ctx, cmd))
			ids = append(ids, cmd.ID)
		}
		mustAck(t)(h.ShipOrder(ctx, order.ShipOrder{ID: ids[0]}))
		mustAck(t)(h.DeliverOrder(ctx, order.DeliverOrder{ID: ids[0]}))
		mustAck(t)(h.CancelOrder(ctx, order.CancelOrder{ID: ids[1], Reason: "too late"}))
		mustAck(t)(h.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: ids[2], Lines: []order.Line{
			{SKU: "C", Name: "Cherry", Quantity: 3, UnitPriceCents: 1150}, {SKU: "D", Name: "Date", Quantity: 1, UnitPriceCents: 800},
			{SKU: "E", Name: "Elderberry", Quantity: 2, UnitPriceCents: 100}}}))
		mustAck(t)(h.ShipOrder(ctx, order.ShipOrder{ID: ids[3]}))
		mustAck(t)(h.DeleteOrder(ctx, order.DeleteOrder{ID: ids[4]}))

		applyAll(t, read, projection.Live, events)
		if err := deliverDashboardMessily(read, events, 7); err != nil {
			t.Fatal(err)
		}
		want, got := newRecordModel(write), projection.NewReadModel(read)

		t.Run("summaries_page_by_page", func(t *testing.T) {
			for _, q := range []order.SummaryQuery{
				{}, {Limit: 2}, {Status: order.Placed, Limit: 2}, {Status: order.Cancelled}, {Q: "CUSTOMER 1"}, {Q: "nobody"},
			} {
				w, wc := allSummaries(t, want, q)
				g, gc := allSummaries(t, got, q)
				if !reflect.DeepEqual(g, w) || !reflect.DeepEqual(gc, wc) {
					t.Fatalf("%+v:\n got %+v %q\nwant %+v %q", q, g, gc, w, wc)
				}
			}
			p, err := got.OrderSummaries(ctx, order.SummaryQuery{})
			if err != nil || p.Source != order.ReadModel || len(p.Orders) != 8 {
				t.Fatalf("source %q, %d orders, %v", p.Source, len(p.Orders), err)
			}
			if _, err := got.OrderSummaries(ctx, order.SummaryQuery{Status: "lost"}); order.ErrorCode(err) != order.EINVALID {
				t.Fatalf("bad status: %v", err)
			}
		})
		t.Run("detail", func(t *testing.T) {
			for _, id := range ids {
				w, werr := want.OrderDetail(ctx, id)
				g, gerr := got.OrderDetail(ctx, id)
				if order.ErrorCode(gerr) != order.ErrorCode(werr) {
					t.Fatalf("%s: error %v, want %v", id, gerr, werr)
				}
				if werr != nil {
					continue
				}
				if len(g.History) != g.Version {
					t.Fatalf("%s: %d history entries at version %d", id, len(g.History), g.Version)
				}
				g.History = nil
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("%s:\n got %+v\nwant %+v", id, g, w)
				}
			}
			d, err := got.OrderDetail(ctx, ids[2])
			if err != nil {
				t.Fatal(err)
			}
			texts := []string{"Placed with 1 line, £3.00", "Lines changed: 3 lines, £44.50"}
			for i, h := range d.History {
				if h.Version != i+1 || h.Text != texts[i] || h.Type != []string{"OrderPlaced", "OrderLinesChanged"}[i] {
					t.Fatalf("history %d: %+v", i, h)
				}
			}
			d, _ = got.OrderDetail(ctx, ids[1])
			if last := d.History[len(d.History)-1]; last.Text != "Cancelled: too late" || !last.At.Equal(d.UpdatedAt) {
				t.Fatalf("cancelled: %+v", last)
			}
			d, _ = got.OrderDetail(ctx, ids[0])
			if texts := []string{d.History[1].Text, d.History[2].Text}; texts[0] != "Shipped" || texts[1] != "Delivered" {
				t.Fatalf("shipped, delivered: %q", texts)
			}
		})
		t.Run("dashboard", func(t *testing.T) {
			w, err := want.Dashboard(ctx)
			if err != nil {
				t.Fatal(err)
			}
			g, err := got.Dashboard(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("\n got %+v\nwant %+v", g, w)
			}
		})
		t.Run("version", func(t *testing.T) {
			for _, c := range []struct {
				id      order.ID
				version int
				found   bool
			}{{ids[0], 3, true}, {ids[5], 1, true}, {ids[4], 2, false}, {order.NewID(), 0, false}} {
				v, found, err := got.Version(ctx, c.id)
				if err != nil || v != c.version || found != c.found {
					t.Fatalf("%s: %d %v %v, want %d %v", c.id, v, found, err, c.version, c.found)
				}
			}
		})
	})
}

func mustAck(t *testing.T) func(order.Ack, error) {
	return func(_ order.Ack, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDuplicatedAndReorderedDeliveryEndsTheSame delivers the events of 30
// orders once, in order, to one read database, and shuffled with every
// event repeated 1–3 times, gaps retried later, to another: both end alike.
func TestDuplicatedAndReorderedDeliveryEndsTheSame(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		events := life(t, 30, 7)
		clean, messy := openRead(t, b), openRead(t, b)
		applyAll(t, clean, projection.Live, events)
		if err := deliverMessily(messy, events, 11); err != nil {
			t.Fatal(err)
		}
		want := dump(t, clean, projection.Live)
		if len(want.Views) != 30 || len(want.History) != len(events) {
			t.Fatalf("%d views, %d history rows for %d events", len(want.Views), len(want.History), len(events))
		}
		sameDump(t, dump(t, messy, projection.Live), want)

		// A redelivery of anything now changes nothing.
		for _, e := range events {
			out, err := projection.Apply(context.Background(), messy, projection.Live, e)
			if err != nil || out != projection.OutcomeDuplicate {
				t.Fatalf("redeliver %s v%d: %v %v", e.Type, e.OrderVersion, out, err)
			}
		}
		sameDump(t, dump(t, messy, projection.Live), want)
	})
}

// TestConcurrentDeliveryEndsTheSame has four goroutines deliver the same
// events at once.
func TestConcurrentDeliveryEndsTheSame(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		events := life(t, 30, 8)
		clean, shared := openRead(t, b), openRead(t, b)
		applyAll(t, clean, projection.Live, events)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				// Two deliver in the events' order, in step, so that they
				// race on every event; two shuffle.
				var err error
				if g < 2 {
					err = deliverInOrder(shared, events)
				} else {
					err = deliverMessily(shared, events, uint64(100+g))
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		sameDump(t, dump(t, shared, projection.Live), dump(t, clean, projection.Live))
	})
}

// TestDeletedOrderStaysDeleted checks the tombstone: after OrderDeleted, a
// redelivered placement does not bring the order back.
func TestDeletedOrderStaysDeleted(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read := openRead(t, b)
		events := life(t, 4, 3) // order 3 is placed, changed and deleted
		var mine []order.Event
		for _, e := range events {
			if e.OrderID == events[len(events)-1].OrderID {
				mine = append(mine, e)
			}
		}
		if _, ok := mine[len(mine)-1].Payload.(order.OrderDeleted); !ok {
			t.Fatalf("last event %s", mine[len(mine)-1].Type)
		}
		applyAll(t, read, projection.Live, mine)
		for _, e := range mine {
			out, err := projection.Apply(ctx, read, projection.Live, e)
			if err != nil || out != projection.OutcomeDuplicate {
				t.Fatalf("redeliver %s: %v %v", e.Type, out, err)
			}
		}
		rm := projection.NewReadModel(read)
		id := mine[0].OrderID
		if _, err := rm.OrderDetail(ctx, id); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("detail of deleted order: %v", err)
		}
		if v, found, err := rm.Version(ctx, id); err != nil || found || v != len(mine) {
			t.Fatalf("version %d %v %v", v, found, err)
		}
		p, err := rm.OrderSummaries(ctx, order.SummaryQuery{})
		if err != nil || len(p.Orders) != 0 {
			t.Fatalf("%+v %v", p.Orders, err)
		}
		d, err := rm.Dashboard(ctx)
		if err != nil || d.Orders != 0 || len(d.TopCustomers) != 0 {
			t.Fatalf("%+v %v", d, err)
		}
	})
}

// TestGapIsAnErrorAndBadEventsAreRefused checks what Apply will not do.
func TestGapIsAnErrorAndBadEventsAreRefused(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read := openRead(t, b)
		events := life(t, 1, 5)
		if _, err := projection.Apply(ctx, read, projection.Live, events[1]); !errors.Is(err, projection.ErrGap) {
			t.Fatalf("v2 before v1: %v", err)
		}
		applyAll(t, read, projection.Live, events[:1])
		if _, err := projection.Apply(ctx, read, projection.Live, events[2]); !errors.Is(err, projection.ErrGap) {
			t.Fatalf("v3 after v1: %v", err)
		}
		// A second placement at v2 breaks the domain's rules: an error, not
		// a gap, and nothing changes.
		bad := events[0]
		bad.OrderVersion = 2
		if _, err := projection.Apply(ctx, read, projection.Live, bad); err == nil || errors.Is(err, projection.ErrGap) {
			t.Fatalf("OrderPlaced at v2: %v", err)
		}
		if v, _, _ := projection.NewReadModel(read).Version(ctx, events[0].OrderID); v != 1 {
			t.Fatalf("version %d after refused event", v)
		}
	})
}
