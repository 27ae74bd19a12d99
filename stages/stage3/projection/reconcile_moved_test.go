package projection

import (
	"context"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
)

// Between the sync reading an order's version on the read side and marking
// the order deleted (it is gone from the database of record, deleted by a
// stage that writes no events), the projector may apply one of the
// order's earlier events. The order is gone all the same: it must not stay
// on the read side.
func TestAnOrderGoneFromTheRecordIsDeletedThoughTheProjectorMovedIt(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			write := sqltest.Open(t, b, migrations.Write)
			read := sqltest.Open(t, b, migrations.Read)
			at := time.Now().UTC().Truncate(time.Microsecond)
			id := order.NewID()
			row, err := viewOf(&order.Order{ID: id, Customer: "Gone Customer", Address: "1 Loop Road", Currency: "USD",
				Lines:  []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 250}},
				Status: order.Shipped, Version: 2, CreatedAt: at, UpdatedAt: at}, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				return upsertViews(ctx, tx, Live, []*view{row})
			}); err != nil {
				t.Fatal(err)
			}

			// The sync read version 1; the projector has stored version 2 since.
			stale := []storedVersion{{ID: id, Version: 1}}
			if err := reconcileRows(ctx, write, read, Live, nil, nil, map[order.ID]bool{}, stale, true, nil); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Deleted bool `bun:"deleted"`
				Version int  `bun:"version"`
			}
			if err := read.NewSelect().TableExpr("?", bun.Ident(Live.Orders)).Column("deleted", "version").
				Where("id = ?", id).Scan(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if !got.Deleted || got.Version != 3 {
				t.Fatalf("order gone from the record: deleted %v at version %d on the read side, want deleted at version 3", got.Deleted, got.Version)
			}
		})
	}
}
