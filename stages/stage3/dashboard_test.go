package stage3_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

func TestDashboardProjection(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			tests := []struct {
				name string
				run  func(t *testing.T, b sqltest.Backend)
			}{
				{"the dashboard equals the database of record's aggregate", testDashboardEqualsRecord},
				{"rebuilding the dashboard alone from the change log gives the same tables", testDashboardRebuildAlone},
				{"a full rebuild and entering stage 3 refill an emptied dashboard", testDashboardFullRebuildAndEnter},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
			}
		})
	}
}

// waitDashboard waits until the dashboard projection has every
// acknowledged version (a deleted order's tombstone at least as far).
func (w *world) waitDashboard(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		w.mu.Lock()
		want := make(map[order.ID]int, len(w.versions))
		for id, v := range w.versions {
			want[id] = v
		}
		w.mu.Unlock()
		behind := 0
		var example string
		for id, v := range want {
			got, err := projection.DashboardVersion(ctx, w.read, id)
			if err != nil {
				t.Fatal(err)
			}
			if got < v {
				behind++
				example = fmt.Sprintf("order %s at v%d, want v%d", id, got, v)
			}
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			entries, _ := w.s3.ErrorLog().List(ctx, "")
			t.Fatalf("the dashboard lacks %d orders' latest versions, e.g. %s (error log: %+v)", behind, example, entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordDashboard is the dashboard as stage 0 computes it: aggregates over
// the database of record's orders and lines.
func recordDashboard(t testing.TB, write *bun.DB) order.Dashboard {
	t.Helper()
	ctx := context.Background()
	d := order.Dashboard{Counts: map[order.Status]int{}, Source: order.ReadModel}
	var counts []struct {
		Status order.Status `bun:"status"`
		N      int          `bun:"n"`
	}
	if err := write.NewRaw("SELECT status, COUNT(*) AS n FROM orders GROUP BY status").Scan(ctx, &counts); err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		d.Counts[c.Status] = c.N
		d.Orders += c.N
	}
	var sums []order.CustomerSum
	if err := write.NewRaw(`SELECT o.customer, o.currency, COUNT(DISTINCT o.id) AS orders, CAST(SUM(l.quantity * l.unit_price_cents) AS BIGINT) AS cents
		FROM orders AS o JOIN order_lines AS l ON l.order_id = o.id WHERE o.status <> ? GROUP BY o.customer, o.currency`, order.Cancelled).
		Scan(ctx, &sums); err != nil {
		t.Fatal(err)
	}
	d.Revenue, d.TopCustomers = order.Rank(sums)
	return d
}

// sameDashboard fails unless got is want.
func sameDashboard(t testing.TB, what string, want, got order.Dashboard) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// dumpDashboard lists the dashboard's tables, one string per row: the
// order rows (a tombstone by its ID alone: the version a tombstone gets
// depends on who wrote it) and the figures' rows that count anything.
func dumpDashboard(t testing.TB, db *bun.DB) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	var rows []struct {
		ID         string `bun:"id"`
		Version    int    `bun:"version"`
		Customer   string `bun:"customer"`
		Currency   string `bun:"currency"`
		Status     string `bun:"status"`
		TotalCents int64  `bun:"total_cents"`
		Deleted    bool   `bun:"deleted"`
	}
	if err := db.NewRaw("SELECT CAST(id AS TEXT) AS id, version, customer, currency, status, total_cents, deleted FROM dashboard_orders").Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Deleted {
			out = append(out, "deleted "+r.ID)
			continue
		}
		out = append(out, fmt.Sprintf("order %s v%d %q %s %s %d", r.ID, r.Version, r.Customer, r.Currency, r.Status, r.TotalCents))
	}
	var figures []struct {
		A, B   string
		Orders int64
		Cents  int64
	}
	for _, q := range []string{
		"SELECT 'status' AS a, status AS b, orders, 0 AS cents FROM dashboard_statuses WHERE orders <> 0",
		"SELECT 'revenue' AS a, currency AS b, orders, cents FROM dashboard_revenue WHERE orders <> 0 OR cents <> 0",
		"SELECT 'customer' AS a, customer AS b, orders, cents FROM dashboard_customers WHERE orders <> 0 OR cents <> 0",
		"SELECT customer AS a, currency AS b, orders, cents FROM dashboard_customer_revenue WHERE orders <> 0 OR cents <> 0",
	} {
		figures = figures[:0]
		if err := db.NewRaw(q).Scan(ctx, &figures); err != nil {
			t.Fatal(err)
		}
		for _, f := range figures {
			out = append(out, fmt.Sprintf("figure %s %s orders=%d cents=%d", f.A, f.B, f.Orders, f.Cents))
		}
	}
	sort.Strings(out)
	return out
}

// dashboardHistory is history's orders plus more customers than the
// dashboard ranks, with ties, several currencies and a cancelled order of
// a top customer.
func (w *world) dashboardHistory(t *testing.T) {
	w.history(t)
	ctx := context.Background()
	for i := range 8 {
		for range i % 3 {
			w.place(t, w.s3, fmt.Sprintf("Repeat %d", i))
		}
	}
	id := w.place(t, w.s3, "Repeat 2")
	ack, err := w.s3.CancelOrder(ctx, order.CancelOrder{ID: id})
	w.ack(t, id, ack, err)
	big := order.NewID()
	ack, err = w.s3.PlaceOrder(ctx, order.PlaceOrder{ID: big, Customer: "Big Spender", Address: "1 Main St", Currency: "USD",
		Lines: []order.Line{{SKU: "CAR-1", Name: "Car", Quantity: 1000, UnitPriceCents: 9876543}}})
	w.ack(t, big, ack, err)
	w.waitProjected(t)
	w.waitDashboard(t)
}

func testDashboardEqualsRecord(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	w.dashboardHistory(t)
	got, err := w.s3.Dashboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := recordDashboard(t, w.write)
	sameDashboard(t, "dashboard", want, got)
	if len(got.TopCustomers) != order.TopCustomersLimit || got.Revenue["USD"] < 9876543*1000 {
		t.Fatalf("the history should fill the top customers and the revenue: %+v", got)
	}
	// Redelivered events change nothing.
	id := w.place(t, w.s3, "Late")
	w.waitDashboard(t)
	before := dumpDashboard(t, w.read)
	events, err := w.eventsOf(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if out, err := projection.ApplyDashboard(ctx, w.read, projection.DashboardLive, e); err != nil || out != projection.OutcomeDuplicate {
			t.Fatalf("redelivered %s: %v, %v", e.Type, out, err)
		}
	}
	diff(t, "dashboard tables after redeliveries", before, dumpDashboard(t, w.read))
	sameDashboard(t, "dashboard after a redelivery", recordDashboard(t, w.write), mustDashboard(t, w))
}

func mustDashboard(t testing.TB, w *world) order.Dashboard {
	t.Helper()
	d, err := w.s3.Dashboard(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testDashboardRebuildAlone(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	w.dashboardHistory(t)
	want := dumpDashboard(t, w.read)
	views := dump(t, w.read)
	rep, err := w.s3.RebuildDashboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events == 0 || rep.Skipped == 0 {
		t.Fatalf("report %+v: want the change log replayed, with the gap left to the sync", rep)
	}
	diff(t, "dashboard tables", want, dumpDashboard(t, w.read))
	diff(t, "order rows (not rebuilt)", views, dump(t, w.read))
	sameDashboard(t, "dashboard after its rebuild", recordDashboard(t, w.write), mustDashboard(t, w))
	// The consumer goes on with the rebuilt tables.
	w.place(t, w.s3, "After The Rebuild")
	w.waitDashboard(t)
	sameDashboard(t, "dashboard after an order placed after the rebuild", recordDashboard(t, w.write), mustDashboard(t, w))
}

func testDashboardFullRebuildAndEnter(t *testing.T, b sqltest.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	w.dashboardHistory(t)
	want := dumpDashboard(t, w.read)
	if err := w.s3.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	diff(t, "dashboard tables after a full rebuild", want, dumpDashboard(t, w.read))

	// An emptied dashboard (say, a read database from before the
	// dashboard projection) is refilled on entering stage 3.
	for _, table := range []string{"dashboard_orders", "dashboard_statuses", "dashboard_revenue", "dashboard_customers", "dashboard_customer_revenue"} {
		if _, err := w.read.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.s3.Enter(ctx, nil); err != nil {
		t.Fatal(err)
	}
	diff(t, "dashboard tables after entering stage 3", want, dumpDashboard(t, w.read))

	// Stage 2 changes orders without events; entering stage 3 syncs the
	// dashboard with them.
	ids := w.someOrders(t, 3)
	ack, err := w.s2.CancelOrder(ctx, order.CancelOrder{ID: ids[0]})
	w.ack(t, ids[0], ack, err)
	ack, err = w.s2.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: ids[1], Lines: []order.Line{{SKU: "X", Name: "Kettle", Quantity: 7, UnitPriceCents: 3999}}})
	w.ack(t, ids[1], ack, err)
	ack, err = w.s2.DeleteOrder(ctx, order.DeleteOrder{ID: ids[2]})
	w.ack(t, ids[2], ack, err)
	w.place(t, w.s2, "Placed In Stage 2")
	if err := w.s3.Enter(ctx, nil); err != nil {
		t.Fatal(err)
	}
	sameDashboard(t, "dashboard after entering stage 3 again", recordDashboard(t, w.write), mustDashboard(t, w))
}

// someOrders returns n placed orders of the database of record.
func (w *world) someOrders(t testing.TB, n int) []order.ID {
	t.Helper()
	var ids []order.ID
	if err := w.write.NewRaw("SELECT id FROM orders WHERE status = ? ORDER BY id LIMIT ?", order.Placed, n).Scan(context.Background(), &ids); err != nil {
		t.Fatal(err)
	}
	if len(ids) < n {
		t.Fatalf("%d placed orders, want %d", len(ids), n)
	}
	return ids
}

// eventsOf is the change log's events of an order.
func (w *world) eventsOf(ctx context.Context, id order.ID) ([]order.Event, error) {
	return changelog.ForOrder(ctx, w.write, id)
}

// TestDashboardParksWhatItCannotApply makes the dashboard projection fail
// for one order's events (a trigger refuses its customer): the dashboard
// projector parks them in the error log after its retries while other
// orders go on, and once the cause is gone a replay from the error log
// puts the order on the dashboard.
func TestDashboardParksWhatItCannotApply(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, b)
			poison, unpoison := []string{`CREATE TRIGGER dashboard_poison BEFORE INSERT ON dashboard_orders
				WHEN NEW.customer = 'Poison' BEGIN SELECT RAISE(ABORT, 'poisoned for the test'); END`}, []string{"DROP TRIGGER dashboard_poison"}
			if b.Name == "postgres" {
				poison = []string{`CREATE FUNCTION dashboard_poison() RETURNS trigger AS $$
					BEGIN IF NEW.customer = 'Poison' THEN RAISE EXCEPTION 'poisoned for the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
					`CREATE TRIGGER dashboard_poison BEFORE INSERT ON dashboard_orders FOR EACH ROW EXECUTE FUNCTION dashboard_poison()`}
				unpoison = []string{"DROP TRIGGER dashboard_poison ON dashboard_orders", "DROP FUNCTION dashboard_poison()"}
			}
			for _, q := range poison {
				if _, err := w.read.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			bad := w.place(t, w.s3, "Poison")
			w.place(t, w.s3, "Fine")
			w.waitProjected(t)
			var parked []projection.ErrorEntry
			deadline := time.Now().Add(time.Minute)
			for len(parked) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the dashboard projector parked nothing")
				}
				time.Sleep(50 * time.Millisecond)
				entries, err := w.s3.ErrorLog().List(ctx, projection.StatusParked)
				if err != nil {
					t.Fatal(err)
				}
				parked = entries
			}
			if len(parked) != 1 || parked[0].OrderID != bad || !strings.Contains(parked[0].Error, "poisoned for the test") {
				t.Fatalf("parked %+v, want the poisoned order's event", parked)
			}
			if v, _ := projection.DashboardVersion(ctx, w.read, bad); v != 0 {
				t.Fatalf("the poisoned order is on the dashboard at v%d", v)
			}
			// Other orders go on.
			w.mu.Lock()
			delete(w.versions, bad)
			w.mu.Unlock()
			w.waitDashboard(t)

			for _, q := range unpoison {
				if _, err := w.read.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			report, err := w.s3.ErrorLog().Replay(ctx, projection.ReplayAll, false)
			if err != nil || report.Failed != 0 {
				t.Fatalf("replay: %+v, %v", report, err)
			}
			if v, _ := projection.DashboardVersion(ctx, w.read, bad); v != 1 {
				t.Fatalf("after the replay the poisoned order is on the dashboard at v%d, want v1", v)
			}
			sameDashboard(t, "dashboard after the replay", recordDashboard(t, w.write), mustDashboard(t, w))
		})
	}
}
