package projection_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// TestReconcileCopiesTheDatabaseOfRecord changes orders as stage 0 does,
// which records no events, and checks that Reconcile brings the read
// database to the same answers, deletions included, in several batches,
// reporting progress; and that a second run changes nothing.
func TestReconcileCopiesTheDatabaseOfRecord(t *testing.T) {
	defer projection.SetReconcileBatch(3)()
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		write, read := openWrite(t, b), openRead(t, b)
		crud := command.New(command.NewRepository(write)) // no change log: no events, as in stages 0–2
		var ids []order.ID
		place := func(i int) order.ID {
			cmd := order.PlaceOrder{ID: order.NewID(), Customer: fmt.Sprintf("Customer %d", i%3), Address: "Somewhere",
				Currency: order.Currencies[i%3], Lines: []order.Line{{SKU: "A", Name: "Apple", Quantity: 1 + i, UnitPriceCents: 250}}}
			mustAck(t)(crud.PlaceOrder(ctx, cmd))
			return cmd.ID
		}
		for i := range 10 {
			ids = append(ids, place(i))
		}
		mustAck(t)(crud.ShipOrder(ctx, order.ShipOrder{ID: ids[0]}))
		mustAck(t)(crud.CancelOrder(ctx, order.CancelOrder{ID: ids[1]}))

		reconcile := func() [][2]int64 {
			t.Helper()
			var calls [][2]int64
			err := projection.Reconcile(ctx, write, read, projection.Live, func(done, total int64) {
				calls = append(calls, [2]int64{done, total})
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := projection.ReconcileDashboard(ctx, write, read, projection.DashboardLive); err != nil {
				t.Fatal(err)
			}
			return calls
		}
		reconcile()

		// Meanwhile, with no events: an order deleted, one changed, one new,
		// one placed and deleted before the read side saw it.
		deleted, changed := ids[2], ids[3]
		mustAck(t)(crud.DeleteOrder(ctx, order.DeleteOrder{ID: deleted}))
		mustAck(t)(crud.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: changed, Lines: []order.Line{{SKU: "B", Name: "Banana", Quantity: 2, UnitPriceCents: 99}}}))
		mustAck(t)(crud.ShipOrder(ctx, order.ShipOrder{ID: changed}))
		ids = append(ids, place(10))
		unseen := place(11)
		mustAck(t)(crud.DeleteOrder(ctx, order.DeleteOrder{ID: unseen}))

		calls := reconcile()
		if len(calls) < 4 || calls[0] != [2]int64{0, 10} || calls[len(calls)-1] != [2]int64{10, 10} {
			t.Fatalf("progress %v", calls)
		}

		want, got := newRecordModel(write), projection.NewReadModel(read)
		for _, q := range []order.SummaryQuery{{}, {Limit: 4}, {Status: order.Placed, Limit: 3}, {Q: "customer 2"}} {
			w, wc := allSummaries(t, want, q)
			g, gc := allSummaries(t, got, q)
			if !reflect.DeepEqual(g, w) || !reflect.DeepEqual(gc, wc) {
				t.Fatalf("%+v:\n got %+v\nwant %+v", q, g, w)
			}
		}
		for _, id := range append(ids, unseen) {
			w, werr := want.OrderDetail(ctx, id)
			g, gerr := got.OrderDetail(ctx, id)
			if order.ErrorCode(gerr) != order.ErrorCode(werr) {
				t.Fatalf("%s: %v, want %v", id, gerr, werr)
			}
			g.History = nil
			if werr == nil && !reflect.DeepEqual(g, w) {
				t.Fatalf("%s:\n got %+v\nwant %+v", id, g, w)
			}
		}
		wd, _ := want.Dashboard(ctx)
		gd, err := got.Dashboard(ctx)
		if err != nil || !reflect.DeepEqual(gd, wd) {
			t.Fatalf("dashboard\n got %+v %v\nwant %+v", gd, err, wd)
		}

		if v, found, _ := got.Version(ctx, deleted); found || v != 2 {
			t.Fatalf("deleted order: version %d, found %v", v, found)
		}
		if _, found, _ := got.Version(ctx, unseen); found {
			t.Fatal("an order deleted before the read side saw it is there")
		}
		// A redelivered event of the deleted order changes nothing.
		if out, err := projection.Apply(ctx, read, projection.Live, order.Event{ID: order.NewID(), OrderID: deleted, OrderVersion: 1,
			Type: "OrderPlaced", Payload: order.OrderPlaced{Customer: "X", Address: "Y", Currency: "USD"}}); err != nil || out != projection.OutcomeDuplicate {
			t.Fatalf("redelivered placement: %v %v", out, err)
		}
		d, err := got.OrderDetail(ctx, changed)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, h := range d.History {
			texts = append(texts, fmt.Sprintf("v%d %s %s", h.Version, h.Type, h.Text))
		}
		wantTexts := []string{"v1 Synced Synced from the database of record at v1", "v3 Synced Synced from the database of record at v3"}
		if !reflect.DeepEqual(texts, wantTexts) {
			t.Fatalf("history %q", texts)
		}

		before := dump(t, read, projection.Live)
		calls = reconcile()
		if calls[len(calls)-1] != [2]int64{10, 10} {
			t.Fatalf("progress %v", calls)
		}
		sameDump(t, dump(t, read, projection.Live), before)
	})
}

// TestReconcileOrderSyncsOneOrder covers the projector's way out of a gap
// that no event will fill.
func TestReconcileOrderSyncsOneOrder(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		write, read := openWrite(t, b), openRead(t, b)
		crud := command.New(command.NewRepository(write)) // no change log: no events, as in stages 0–2
		cmd := order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "Somewhere",
			Lines: []order.Line{{SKU: "A", Name: "Apple", Quantity: 1, UnitPriceCents: 250}}}
		mustAck(t)(crud.PlaceOrder(ctx, cmd))
		mustAck(t)(crud.CancelOrder(ctx, order.CancelOrder{ID: cmd.ID}))
		other := order.NewID()
		if err := projection.ReconcileOrder(ctx, write, read, projection.Live, cmd.ID); err != nil {
			t.Fatal(err)
		}
		if err := projection.ReconcileOrder(ctx, write, read, projection.Live, other); err != nil {
			t.Fatal(err)
		}
		rm := projection.NewReadModel(read)
		if v, found, _ := rm.Version(ctx, cmd.ID); v != 2 || !found {
			t.Fatalf("version %d %v", v, found)
		}
		if _, found, _ := rm.Version(ctx, other); found {
			t.Fatal("an order that exists nowhere was made")
		}
		mustAck(t)(crud.DeleteOrder(ctx, order.DeleteOrder{ID: cmd.ID}))
		if err := projection.ReconcileOrder(ctx, write, read, projection.Live, cmd.ID); err != nil {
			t.Fatal(err)
		}
		if v, found, _ := rm.Version(ctx, cmd.ID); v != 3 || found {
			t.Fatalf("after delete: version %d %v", v, found)
		}
	})
}
