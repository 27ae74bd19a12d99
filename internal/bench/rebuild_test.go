package bench

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage0"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// eventsPerOrder is what each seeded order went through: placed, lines
// changed, shipped, delivered.
const eventsPerOrder = 4

// BenchmarkRebuild rebuilds stage 3's read database (rebuild.Rebuild:
// replay the change log into shadow tables, sync with the database of
// record, swap) from a change log of STAIRCASE_BENCH_EVENTS events
// (default 100,000) — a quarter as many orders of 4 events each — and
// reports events/s and rebuild-s; then, in the same run, the raw rate at
// which the driver inserts the rows the rebuild ended with (raw-rows/s:
// the faster of multi-row inserts and, on PostgreSQL, COPY, into empty
// tables of the same shape) and rebuild/raw, their ratio. Run it with
// -benchtime 1x.
func BenchmarkRebuild(b *testing.B) {
	events := envInt(b, "STAIRCASE_BENCH_EVENTS", 100_000)
	orders := max(events/eventsPerOrder, 1)
	for _, be := range sqltest.Backends() {
		b.Run("db="+be.Name, func(b *testing.B) {
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
			cpu0 := cpuTime(b)
			for b.Loop() {
				if err := rebuild.Rebuild(ctx, write, read, nil, func(p rebuild.Progress) { last = p }); err != nil {
					b.Fatal(err)
				}
			}
			rebuildCPU := cpuTime(b) - cpu0
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
			rate := float64(orders*eventsPerOrder*b.N) / b.Elapsed().Seconds()
			// Rows against rows: the rebuild writes a view per order and a
			// history row per event, as the raw insert does.
			rows := float64((orders+orders*eventsPerOrder)*b.N) / b.Elapsed().Seconds()
			raw, rawCPU := rawInsertRate(b, read)
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "rebuild-s")
			b.ReportMetric(raw, "raw-rows/s")
			b.ReportMetric(rows/raw, "rebuild/raw")
			// The same ratio in CPU time, which other users of a shared
			// machine disturb far less than wall time.
			b.ReportMetric((float64((orders+orders*eventsPerOrder)*b.N)/rebuildCPU.Seconds())/rawCPU, "cpu-rebuild/raw")
		})
	}
}

// rawView and rawHistory are the read tables' rows, for the raw insert.
type rawView struct {
	ID         string    `bun:"id"`
	Customer   string    `bun:"customer"`
	Address    string    `bun:"address"`
	Currency   string    `bun:"currency"`
	Status     string    `bun:"status"`
	Version    int       `bun:"version"`
	LineCount  int       `bun:"line_count"`
	TotalCents int64     `bun:"total_cents"`
	Lines      string    `bun:"lines"`
	CreatedAt  time.Time `bun:"created_at"`
	UpdatedAt  time.Time `bun:"updated_at"`
	Deleted    bool      `bun:"deleted"`
}

type rawHistory struct {
	OrderID    string    `bun:"order_id"`
	Version    int       `bun:"version"`
	Type       string    `bun:"type"`
	OccurredAt time.Time `bun:"occurred_at"`
	Text       string    `bun:"text"`
}

// rawBatch and rawTx are how the raw insert batches rows: per statement,
// and per transaction.
const rawBatch, rawTx = 500, 5000

// rawInsertRate is what the driver does with the rebuilt rows and nothing
// else to do: it reads the read tables' rows, then inserts them into empty
// tables of the same shape (the shadow tables) with multi-row inserts of
// rawBatch rows, rawTx rows per transaction, and on PostgreSQL once more
// with COPY, and returns the faster one's rows per second — the rate a
// rebuild that wrote only final rows would approach — in wall time and in
// the process's CPU time.
func rawInsertRate(b *testing.B, read *bun.DB) (perSecond, perCPUSecond float64) {
	b.Helper()
	ctx := context.Background()
	var views []rawView
	var history []rawHistory
	if err := read.NewSelect().Model(&views).ModelTableExpr(projection.Live.Orders + " AS raw_view").Scan(ctx); err != nil {
		b.Fatal(err)
	}
	if err := read.NewSelect().Model(&history).ModelTableExpr(projection.Live.History + " AS raw_history").Scan(ctx); err != nil {
		b.Fatal(err)
	}
	if err := projection.CreateShadow(ctx, read); err != nil {
		b.Fatal(err)
	}
	start, cpu := time.Now(), cpuTime(b)
	insert := func(table string, n int, part func(i, j int) any) {
		for i := 0; i < n; i += rawTx {
			err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				for k := i; k < min(i+rawTx, n); k += rawBatch {
					rows := part(k, min(k+rawBatch, n))
					if _, err := tx.NewInsert().Model(rows).ModelTableExpr(table).Exec(ctx); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	insert(projection.Shadow.Orders, len(views), func(i, j int) any { p := views[i:j]; return &p })
	insert(projection.Shadow.History, len(history), func(i, j int) any { p := history[i:j]; return &p })
	n := float64(len(views) + len(history))
	rate, cpuRate := n/time.Since(start).Seconds(), n/(cpuTime(b)-cpu).Seconds()
	if sqlstore.DialectName(read) != sqlstore.Postgres {
		return rate, cpuRate
	}
	if err := projection.CreateShadow(ctx, read); err != nil {
		b.Fatal(err)
	}
	start, cpu = time.Now(), cpuTime(b)
	viewRows := make([][]any, len(views))
	for i, v := range views {
		viewRows[i] = []any{v.ID, v.Customer, v.Address, v.Currency, v.Status, v.Version, v.LineCount, v.TotalCents,
			v.Lines, v.CreatedAt, v.UpdatedAt, v.Deleted}
	}
	historyRows := make([][]any, len(history))
	for i, h := range history {
		historyRows[i] = []any{h.OrderID, h.Version, h.Type, h.OccurredAt, h.Text}
	}
	copyRows(b, read, projection.Shadow.Orders, []string{"id", "customer", "address", "currency", "status", "version",
		"line_count", "total_cents", "lines", "created_at", "updated_at", "deleted"}, viewRows)
	copyRows(b, read, projection.Shadow.History, []string{"order_id", "version", "type", "occurred_at", "text"}, historyRows)
	return max(rate, n/time.Since(start).Seconds()), max(cpuRate, n/(cpuTime(b)-cpu).Seconds())
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// copyRows writes rows into table with PostgreSQL's COPY, through pgx.
func copyRows(b *testing.B, db *bun.DB, table string, cols []string, rows [][]any) {
	b.Helper()
	ctx := context.Background()
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		b.Fatalf("copy into %s: %v", table, err)
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
