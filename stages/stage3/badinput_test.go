package stage3_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/errorlog"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// One bad input must not stop the read side for every order: a change-log
// row this code cannot read (a newer instance wrote it during a rolling
// upgrade) or an event the order's rules refuse is set aside in the error
// log, its order's later events held behind it, and everything else goes
// on.

// errorEntries lists the error log of read.
func errorEntries(t testing.TB, read *bun.DB) []projection.ErrorEntry {
	t.Helper()
	es, err := errorlog.New(read, nil, nil, nil).List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// entryOf finds the entry of order id at version v; nil if there is none.
func entryOf(entries []projection.ErrorEntry, id order.ID, v int) *projection.ErrorEntry {
	for i := range entries {
		if entries[i].OrderID == id && entries[i].OrderVersion == v {
			return &entries[i]
		}
	}
	return nil
}

// shippedByANewerInstance changes order id as a newer instance would: the
// database of record ships and delivers it, and the change log records the
// OrderShipped in schema 99, which this code does not know, and the
// OrderDelivered in the current one.
func (w *world) shippedByANewerInstance(t *testing.T, id order.ID) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.s2.ShipOrder(ctx, order.ShipOrder{ID: id}); err != nil {
		t.Fatal(err)
	}
	insertRaw(t, w.write, id, 2, "OrderShipped", 99, `{}`, time.Now())
	if _, err := w.s2.DeliverOrder(ctx, order.DeliverOrder{ID: id}); err != nil {
		t.Fatal(err)
	}
	insertRaw(t, w.write, id, 3, "OrderDelivered", 1, `{}`, time.Now())
}

func TestTheRelaySetsAsideARowItCannotReadAndGoesOn(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, b)
			replayed, discarded := w.place(t, w.s3, "Ada"), w.place(t, w.s3, "Bo")
			w.waitProjected(t)
			w.shippedByANewerInstance(t, replayed)
			w.shippedByANewerInstance(t, discarded)

			// Commands for other orders still reach the read side.
			w.place(t, w.s3, "Cy")
			w.waitProjected(t)

			// The unreadable rows are parked, their orders' later events
			// held behind them.
			var entries []projection.ErrorEntry
			deadline := time.Now().Add(30 * time.Second)
			for {
				entries = errorEntries(t, w.read)
				if held := entryOf(entries, discarded, 3); held != nil && entryOf(entries, replayed, 3) != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(entries) != 4 {
				t.Fatalf("the error log has %d entries, want 4: %+v", len(entries), entries)
			}
			for _, id := range []order.ID{replayed, discarded} {
				parked, held := entryOf(entries, id, 2), entryOf(entries, id, 3)
				if parked == nil || parked.Status != projection.StatusParked || !strings.Contains(parked.Error, "99") ||
					errorlog.Readable(*parked) == nil {
					t.Fatalf("v2 of order %s: %+v, want parked as unreadable (schema 99)", id, parked)
				}
				if held == nil || held.Status != projection.StatusHeld {
					t.Fatalf("v3 of order %s: %+v, want held", id, held)
				}
			}
			log := w.s3.ErrorLog()

			// Once the code can read it, a replay applies it and the event
			// held behind it. (Rewriting the stored envelope stands in for
			// a version of the code that knows schema 99.)
			parked := entryOf(entries, replayed, 2)
			if report, err := log.Replay(ctx, parked.ID, false); err != nil || report.Failed != 1 {
				t.Fatalf("replay while the code cannot read the row: %+v, %v; want it still failing", report, err)
			}
			if _, err := w.read.NewUpdate().Model((*projection.ErrorEntry)(nil)).
				Set("envelope = ?", strings.Replace(parked.Envelope, `"schema_version":99`, `"schema_version":1`, 1)).
				Where("id = ?", parked.ID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			report, err := log.Replay(ctx, parked.ID, false)
			if err != nil || report.Applied != 2 || report.Failed != 0 {
				t.Fatalf("replay once the row can be read: %+v, %v; want 2 applied", report, err)
			}
			d, err := projection.NewReadModel(w.read).OrderDetail(ctx, replayed)
			if err != nil || d.Version != 3 || d.Status != order.Delivered {
				t.Fatalf("order %s after the replay: v%d %s (%v), want v3 delivered", replayed, d.Version, d.Status, err)
			}

			// Discarding it syncs the order from the database of record,
			// and the event held behind it is then already applied.
			if report, err = log.Discard(ctx, entryOf(entries, discarded, 2).ID); err != nil || report.Skipped != 1 {
				t.Fatalf("discard: %+v, %v; want the held event skipped", report, err)
			}
			if d, err = projection.NewReadModel(w.read).OrderDetail(ctx, discarded); err != nil || d.Version != 3 || d.Status != order.Delivered {
				t.Fatalf("order %s after the discard: v%d %s (%v), want v3 delivered", discarded, d.Version, d.Status, err)
			}
			entries = errorEntries(t, w.read)
			if e := entryOf(entries, discarded, 2); e.Status != projection.StatusDiscarded {
				t.Fatalf("discarded entry is %s", e.Status)
			}
			for _, e := range entries {
				if e.Status == projection.StatusParked || e.Status == projection.StatusHeld {
					t.Fatalf("entry still waiting: %+v", e)
				}
			}
			// An order no longer waits behind anything: its next event is
			// applied.
			ack, err := w.s3.CancelOrder(ctx, order.CancelOrder{ID: w.place(t, w.s3, "Di")})
			w.ack(t, ack.ID, ack, err)
			w.waitProjected(t)
		})
	}
}

func testRebuildParksWhatItCannotApply(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	write, read := databases(t, b)
	logged := command.New(command.NewRepository(write, command.WithChangeLog(changelog.Hook())))
	s2 := withoutEvents(write)
	var good, newer, refused order.ID
	for _, id := range []*order.ID{&good, &newer, &refused} {
		*id = order.NewID()
		if _, err := logged.PlaceOrder(ctx, order.PlaceOrder{ID: *id, Customer: "Ada", Address: "1 Main St",
			Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 250}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := logged.ShipOrder(ctx, order.ShipOrder{ID: good}); err != nil {
		t.Fatal(err)
	}
	// A row in a schema this code does not know.
	if _, err := s2.ShipOrder(ctx, order.ShipOrder{ID: newer}); err != nil {
		t.Fatal(err)
	}
	insertRaw(t, write, newer, 2, "OrderShipped", 99, `{}`, time.Now())
	// An event the order's rules refuse: a second OrderPlaced, at v2.
	if _, err := s2.CancelOrder(ctx, order.CancelOrder{ID: refused}); err != nil {
		t.Fatal(err)
	}
	insertRaw(t, write, refused, 2, "OrderPlaced", 2,
		`{"customer":"Ada","address":"1 Main St","currency":"EUR","lines":[{"sku":"TEA-01","name":"Green tea","quantity":2,"unit_price_cents":250}]}`, time.Now())

	var log progressLog
	if err := rebuild.Rebuild(ctx, write, read, nil, log.add); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	log.check(t, 5)
	end := log.reports[len(log.reports)-1]
	if end.Parked != 2 || !strings.Contains(end.String(), "2 parked in the error log") {
		t.Fatalf("rebuild parked %d events (%q), want 2 reported", end.Parked, end.String())
	}
	entries := errorEntries(t, read)
	if len(entries) != 2 {
		t.Fatalf("error log: %+v, want 2 entries", entries)
	}
	for _, id := range []order.ID{newer, refused} {
		if e := entryOf(entries, id, 2); e == nil || e.Status != projection.StatusParked {
			t.Fatalf("v2 of order %s: %+v, want parked", id, e)
		}
	}
	// The orders themselves are synced from the database of record.
	rm := projection.NewReadModel(read)
	for id, want := range map[order.ID]order.Status{good: order.Shipped, newer: order.Shipped, refused: order.Cancelled} {
		d, err := rm.OrderDetail(ctx, id)
		if err != nil || d.Version != 2 || d.Status != want {
			t.Fatalf("order %s rebuilt at v%d %s (%v), want v2 %s", id, d.Version, d.Status, err, want)
		}
	}
}
