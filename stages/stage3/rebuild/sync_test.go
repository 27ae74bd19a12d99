package rebuild

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
)

func backends(t *testing.T, f func(t *testing.T, b sqltest.Backend)) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// history makes an order's first events: placed, lines changed, shipped.
func history(t *testing.T) []order.Event {
	t.Helper()
	lines := []order.Line{{SKU: "BOOK-1", Name: "Notes", Quantity: 2, UnitPriceCents: 4200}}
	o, placed, err := order.Place(order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 High Street", Lines: lines}, t0)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: append(lines, order.Line{SKU: "PEN", Name: "Pen", Quantity: 1, UnitPriceCents: 150})}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := o.Ship(order.ShipOrder{ID: o.ID}, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return []order.Event{placed, changed, shipped}
}

func TestSyncFromRecordLeavesATrueGapAlone(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
		p := Syncer{Write: write, Read: read}
		events := history(t)
		if _, err := projection.Apply(ctx, read, projection.Live, events[0]); err != nil {
			t.Fatal(err)
		}
		// The database of record has never heard of the order: v2 is late,
		// not lost, and the read side must not take the order for deleted.
		synced, err := p.FillGap(ctx, events[2])
		if err != nil || synced {
			t.Fatalf("synced %v, %v; want a true gap", synced, err)
		}
		d, err := projection.NewReadModel(read).OrderDetail(ctx, events[0].OrderID)
		if err != nil || d.Version != 1 {
			t.Fatalf("read side has the order at %d (%v), want it untouched at v1", d.Version, err)
		}
	})
}

func TestSyncFromRecordFillsAGapTheChangeLogLacks(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
		p := Syncer{Write: write, Read: read}
		// Changed without events, as stage 2 does: the record is at v2 and
		// the change log has nothing.
		h := command.New(command.NewRepository(write))
		id := order.NewID()
		lines := []order.Line{{SKU: "A", Name: "A", Quantity: 1, UnitPriceCents: 100}}
		if _, err := h.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "Here", Lines: lines}); err != nil {
			t.Fatal(err)
		}
		ack, err := h.ShipOrder(ctx, order.ShipOrder{ID: id, ExpectedVersion: 1})
		if err != nil {
			t.Fatal(err)
		}
		late := order.Event{ID: uuid.New(), OrderID: id, OrderVersion: 2, Type: "OrderShipped", OccurredAt: t0, Payload: order.OrderShipped{}}
		synced, err := p.FillGap(ctx, late)
		if err != nil || !synced {
			t.Fatalf("synced %v, %v; want the read side synced from the record (ack %+v)", synced, err, ack)
		}
		v, _, err := projection.NewReadModel(read).Version(ctx, id)
		if err != nil || v != 2 {
			t.Fatalf("read side at v%d (%v), want v2", v, err)
		}
	})
}

// TestSyncFromRecordWaitsForTheEventsOfADeletedOrder: an order placed and
// deleted in stage 3 has both events in the change log; its deletion
// reaching a projector before its placement (held by another projector, or
// by one that died with it) is a true gap, not an order to tombstone: the
// placement comes as an event, and then the deletion applies after it.
func TestSyncFromRecordWaitsForTheEventsOfADeletedOrder(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
		p := Syncer{Write: write, Read: read}
		var logged []order.Event
		h := command.New(command.NewRepository(write, command.WithChangeLog(func(ctx context.Context, tx bun.Tx, events []order.Event) error {
			logged = append(logged, events...)
			return changelog.Append(ctx, tx, events)
		})))
		id := order.NewID()
		lines := []order.Line{{SKU: "A", Name: "A", Quantity: 1, UnitPriceCents: 100}}
		if _, err := h.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "Here", Lines: lines}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.DeleteOrder(ctx, order.DeleteOrder{ID: id, ExpectedVersion: 1}); err != nil {
			t.Fatal(err)
		}
		if len(logged) != 2 {
			t.Fatalf("the change log got %d events, want placed and deleted", len(logged))
		}
		synced, err := p.FillGap(ctx, logged[1])
		if err != nil || synced {
			t.Fatalf("synced %v, %v; want a true gap: the placement is on its way", synced, err)
		}
		for _, e := range logged {
			if _, err := projection.Apply(ctx, read, projection.Live, e); err != nil {
				t.Fatalf("apply %s: %v", e.Type, err)
			}
		}
		var synced2 int
		if err := read.NewSelect().TableExpr("order_history").ColumnExpr("COUNT(*)").Where("type = 'Synced'").Scan(ctx, &synced2); err != nil {
			t.Fatal(err)
		}
		if synced2 != 0 {
			t.Errorf("%d history rows synced from the record; want the two events only", synced2)
		}
	})
}
