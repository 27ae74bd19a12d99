package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage0"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// eventsPerOrder is what each seeded order went through: placed, lines
// changed, shipped, delivered.
const eventsPerOrder = 4

// BenchmarkRebuild100k rebuilds stage 3's read database (rebuild.Rebuild:
// replay the change log into shadow tables, sync with the database of
// record, swap) from a change log of 100,000 events — 25,000 orders of 4
// events each — and reports events/s. STAIRCASE_BENCH_REBUILD_EVENTS sets
// another size for a quick run. Run it with -benchtime 1x.
func BenchmarkRebuild100k(b *testing.B) {
	events := envInt(b, "STAIRCASE_BENCH_REBUILD_EVENTS", 100_000)
	orders := max(events/eventsPerOrder, 1)
	for _, be := range sqltest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			cfg := app.Config{DataDir: b.TempDir(), WriteDB: be.URL(b), ReadDB: be.URL(b)}
			write, err := app.OpenWrite(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer write.Close()
			read, err := app.OpenRead(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer read.Close()
			if err := seedChangeLog(ctx, write, orders); err != nil {
				b.Fatal(err)
			}
			var last rebuild.Progress
			for b.Loop() {
				if err := rebuild.Rebuild(ctx, write, read, nil, func(p rebuild.Progress) { last = p }); err != nil {
					b.Fatal(err)
				}
			}
			if last.Phase != rebuild.PhaseDone || last.Events != int64(orders*eventsPerOrder) || last.Skipped != 0 {
				b.Fatalf("rebuild ended at %+v, want done with %d events replayed and none skipped", last, orders*eventsPerOrder)
			}
			var views int
			if err := read.NewRaw("SELECT COUNT(*) FROM order_views WHERE version = ?", eventsPerOrder).Scan(ctx, &views); err != nil {
				b.Fatal(err)
			}
			if views != orders {
				b.Fatalf("the rebuilt read side has %d orders at version %d, want %d", views, eventsPerOrder, orders)
			}
			b.ReportMetric(float64(orders*eventsPerOrder*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// seedBatch is how many orders one seeding transaction writes.
const seedBatch = 250

// seedChangeLog writes n orders straight into the database of record as
// stage 3 would have — each placed, its lines changed, shipped and
// delivered — with their rows in their final state and their four events in
// the change log, a batch of orders per transaction.
func seedChangeLog(ctx context.Context, db *bun.DB, n int) error {
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	for done := 0; done < n; done += seedBatch {
		var rows []*stage0.Order
		var lines []*stage0.Line
		var events []order.Event
		for i := done; i < min(done+seedBatch, n); i++ {
			at = at.Add(time.Second)
			cmd := order.PlaceOrder{
				ID: order.NewID(), Customer: "Seeded customer " + strconv.Itoa(i%500), Address: "2 Replay Road",
				Lines: []order.Line{{SKU: "SEED-1", Name: "Widget", Quantity: 1 + i%7, UnitPriceCents: 1999}},
			}
			o, placed, err := order.Place(cmd, at)
			if err != nil {
				return err
			}
			changed, err := o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: append(cmd.Lines,
				order.Line{SKU: "SEED-2", Name: "Gadget", Quantity: 2, UnitPriceCents: 500})}, at.Add(time.Minute))
			if err != nil {
				return err
			}
			shipped, err := o.Ship(order.ShipOrder{ID: o.ID}, at.Add(time.Hour))
			if err != nil {
				return err
			}
			delivered, err := o.Deliver(order.DeliverOrder{ID: o.ID}, at.Add(24*time.Hour))
			if err != nil {
				return err
			}
			row := stage0.Row(o, order.Fingerprint(cmd))
			rows = append(rows, row)
			lines = append(lines, row.Lines...)
			events = append(events, placed, changed, shipped, delivered)
		}
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return fmt.Errorf("insert orders: %w", err)
			}
			if _, err := tx.NewInsert().Model(&lines).Exec(ctx); err != nil {
				return fmt.Errorf("insert lines: %w", err)
			}
			return changelog.Append(ctx, tx, events)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
