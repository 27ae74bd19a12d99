package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// TestSeedLeavesStage3Ready: a seed into empty databases builds stage 3's
// read side (orders and dashboard, row for row the database of record's)
// and moves the relay to the change log's head, so that stage 3 starts
// ready and publishes none of the seeded events; a new order then flows
// through the bus as usual. A seed over databases that both hold orders
// leaves the read side to the relay, says so, and stage 3 still catches
// up. reset --orders does as seed does.
func TestSeedLeavesStage3Ready(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := app.Config{DataDir: t.TempDir(), WriteDB: b.URL(t), ReadDB: b.URL(t), Stage: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			dbFlags := []string{"--data-dir", cfg.DataDir}
			if cfg.WriteDB != "" {
				dbFlags = append(dbFlags, "--write-db", cfg.WriteDB, "--read-db", cfg.ReadDB)
			}
			seedOut := func(args ...string) string {
				t.Helper()
				var out, errOut bytes.Buffer
				if err := run(ctx, append(args, dbFlags...), &out, &errOut); err != nil {
					t.Fatalf("%v: %v\n%s", args, err, errOut.String())
				}
				return out.String()
			}
			out := seedOut("seed", "--orders", "1200", "--seed", "5")
			if !strings.Contains(out, "read side built") {
				t.Fatalf("seed into empty databases did not build the read side: %s", out)
			}
			write, read := openSides(t, cfg)
			head := lastEntry(t, write)
			if pos := relayPosition(t, write); pos != head {
				t.Fatalf("relay position %+v after the seed, the change log's last entry is %+v", pos, head)
			}
			if diff := readSideDiff(ctx, write, read); diff != "" {
				t.Fatalf("read side after the seed: %s", diff)
			}

			a, err := app.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { a.Close() }()
			if err := a.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			waitOrders(t, a, 1200)
			if _, err := a.Stage3.PlaceOrder(ctx, order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Road",
				Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 1250}}}); err != nil {
				t.Fatal(err)
			}
			waitOrders(t, a, 1201)
			// The relay publishes in commit order: had it published the
			// seeded events, they would be on the stream before the new one.
			if n := eventsOnBus(t, a); n != 1 {
				t.Fatalf("%d events published for one new order after the seed", n)
			}
			if pos := relayPosition(t, write); !pos.After(head) {
				t.Fatalf("relay position %+v did not go past the seed's head %+v", pos, head)
			}
			if diff := readSideDiff(ctx, write, read); diff != "" {
				t.Fatalf("read side after a new order: %s", diff)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}

			// Both databases hold orders: the seeded events go by the bus.
			before := relayPosition(t, write)
			out = seedOut("seed", "--orders", "300")
			if !strings.Contains(out, "read side left to stage 3") {
				t.Fatalf("seed over orders on both sides said: %s", out)
			}
			if pos := relayPosition(t, write); pos != before {
				t.Fatalf("relay position moved from %+v to %+v", before, pos)
			}
			a, err = app.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitOrders(t, a, 1501)
			// The dashboard's count is its own projector's: the order
			// projector, another consumer of the bus, may still be behind.
			waitCaughtUp(t, write, read)
			if n := eventsOnBus(t, a); n <= 300 {
				t.Fatalf("%d events on the bus; the 300 orders seeded over existing orders should have been published", n)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := readSideDiff(ctx, write, read); diff != "" {
				t.Fatalf("read side after the projectors caught up: %s", diff)
			}

			// reset --orders seeds as seed does.
			out = seedOut("reset", "--yes", "--orders", "400")
			if !strings.Contains(out, "read side built") {
				t.Fatalf("reset --orders did not build the read side: %s", out)
			}
			if pos := relayPosition(t, write); pos != lastEntry(t, write) {
				t.Fatalf("relay position %+v after reset --orders, the change log's last entry is %+v", pos, lastEntry(t, write))
			}
			if diff := readSideDiff(ctx, write, read); diff != "" {
				t.Fatalf("read side after reset --orders: %s", diff)
			}
		})
	}
}

// lastEntry is the change log's last entry in commit order, read plainly
// (nothing else writes to the test's database).
func lastEntry(t *testing.T, write *bun.DB) changelog.Position {
	t.Helper()
	q := "SELECT 0, seq FROM change_log ORDER BY seq DESC LIMIT 1"
	if write.Dialect().Name().String() == "pg" {
		q = "SELECT CAST(CAST(tx_id AS TEXT) AS BIGINT), seq FROM change_log ORDER BY tx_id DESC, seq DESC LIMIT 1"
	}
	var p changelog.Position
	if err := write.QueryRowContext(context.Background(), q).Scan(&p.TxID, &p.Seq); err != nil {
		t.Fatal(err)
	}
	return p
}

func relayPosition(t *testing.T, write *bun.DB) changelog.Position {
	t.Helper()
	p, err := changelog.LoadPosition(context.Background(), write, stage3.RelayPositionName(stage3.EventsTopic("")))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventsOnBus is how many events were ever published to the app's event
// stream (its last sequence number).
func eventsOnBus(t *testing.T, a *app.App) uint64 {
	t.Helper()
	js, err := jetstream.New(a.NATS)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), messaging.StreamName(stage3.EventsTopic("")))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// readSideDiff compares stage 3's read side with the database of record,
// row by row: the orders' rows, the dashboard's rows of orders, and the
// dashboard's figures with the same figures counted from the orders. It
// says what differs, or nothing.
// waitCaughtUp waits until the read side holds what the database of record
// holds (readSideDiff finds nothing), for up to a minute.
func waitCaughtUp(t *testing.T, write, read *bun.DB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		diff := readSideDiff(context.Background(), write, read)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read side did not catch up: %s", diff)
		}
		time.Sleep(50 * time.Millisecond) // polling the read side, which has no push to wait on
	}
}

func readSideDiff(ctx context.Context, write, read *bun.DB) string {
	const total = "(SELECT COALESCE(SUM(l.quantity * l.unit_price_cents), 0) FROM order_lines l WHERE l.order_id = o.id)"
	pairs := []struct{ name, write, read string }{
		{"orders",
			"SELECT o.id, o.version, o.status, o.customer, " + total + " FROM orders o",
			"SELECT id, version, status, customer, total_cents FROM order_views WHERE NOT deleted"},
		{"dashboard orders",
			"SELECT o.id, o.version, o.status, o.customer, o.currency, " + total + " FROM orders o",
			"SELECT id, version, status, customer, currency, total_cents FROM dashboard_orders WHERE NOT deleted"},
		{"dashboard statuses",
			"SELECT status, COUNT(*) FROM orders GROUP BY status",
			"SELECT status, orders FROM dashboard_statuses WHERE orders > 0"},
		{"dashboard revenue",
			"SELECT o.currency, COUNT(*), SUM(" + total + ") FROM orders o WHERE o.status <> 'cancelled' GROUP BY o.currency",
			"SELECT currency, orders, cents FROM dashboard_revenue WHERE orders > 0"},
		{"dashboard customers",
			"SELECT o.customer, COUNT(*), SUM(" + total + ") FROM orders o WHERE o.status <> 'cancelled' GROUP BY o.customer",
			"SELECT customer, orders, cents FROM dashboard_customers WHERE orders > 0"},
	}
	for _, p := range pairs {
		w, err := rowStrings(ctx, write, p.write)
		if err != nil {
			return p.name + ": " + err.Error()
		}
		r, err := rowStrings(ctx, read, p.read)
		if err != nil {
			return p.name + ": " + err.Error()
		}
		if len(w) == 0 {
			return p.name + ": none in the database of record"
		}
		if !slices.Equal(w, r) {
			var missing, extra []string
			for _, row := range w {
				if _, ok := slices.BinarySearch(r, row); !ok {
					missing = append(missing, row)
				}
			}
			for _, row := range r {
				if _, ok := slices.BinarySearch(w, row); !ok {
					extra = append(extra, row)
				}
			}
			return fmt.Sprintf("%s: %d rows in the database of record, %d on the read side; missing %v, extra %v",
				p.name, len(w), len(r), missing[:min(3, len(missing))], extra[:min(3, len(extra))])
		}
	}
	return ""
}

// rowStrings runs q and returns its rows as sorted strings.
func rowStrings(ctx context.Context, db *bun.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, " "))
	}
	slices.Sort(out)
	return out, rows.Err()
}
