package projection_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// deliverDashboardMessily applies a shuffled stream of events to the
// dashboard projection, each one 1–3 times, retrying an event that meets
// a gap after the others, as an at-least-once bus might deliver them.
func deliverDashboardMessily(db *bun.DB, events []order.Event, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 3))
	var queue []order.Event
	for _, e := range events {
		for range 1 + rng.IntN(3) {
			queue = append(queue, e)
		}
	}
	rng.Shuffle(len(queue), func(i, j int) { queue[i], queue[j] = queue[j], queue[i] })
	for rounds := 0; len(queue) > 0; rounds++ {
		if rounds > 1_000_000 {
			return errors.New("delivery does not converge")
		}
		e := queue[0]
		queue = queue[1:]
		_, err := projection.ApplyDashboard(context.Background(), db, projection.DashboardLive, e)
		switch {
		case errors.Is(err, projection.ErrGap):
			queue = append(queue, e)
		case err != nil:
			return fmt.Errorf("apply %s v%d: %w", e.Type, e.OrderVersion, err)
		}
	}
	return nil
}

// foldDashboard is the dashboard the events leave, figured in memory
// from the orders they make, as stage 0 would add them up.
func foldDashboard(t testing.TB, events []order.Event) order.Dashboard {
	t.Helper()
	orders := map[order.ID]*order.Order{}
	deleted := map[order.ID]bool{}
	for _, e := range events {
		o := orders[e.OrderID]
		if o == nil {
			o = &order.Order{}
			orders[e.OrderID] = o
		}
		if err := o.Apply(e); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.Payload.(order.OrderDeleted); ok {
			deleted[e.OrderID] = true
		}
	}
	d := order.Dashboard{Counts: map[order.Status]int{}, Source: order.ReadModel}
	sums := map[[2]string]*order.CustomerSum{}
	for id, o := range orders {
		if deleted[id] {
			continue
		}
		d.Counts[o.Status]++
		d.Orders++
		if o.Status == order.Cancelled {
			continue
		}
		k := [2]string{o.Customer, o.Currency}
		if sums[k] == nil {
			sums[k] = &order.CustomerSum{Customer: o.Customer, Currency: o.Currency}
		}
		sums[k].Orders++
		sums[k].Cents += o.TotalCents()
	}
	var list []order.CustomerSum
	for _, s := range sums {
		list = append(list, *s)
	}
	d.Revenue, d.TopCustomers = order.Rank(list)
	return d
}

// TestDashboardAppliesEachEventOnce delivers events to the dashboard
// projection duplicated and out of order, and checks that the figures are
// those the events' orders add up to; that a redelivery changes nothing
// and an event past a gap waits.
func TestDashboardAppliesEachEventOnce(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read := openRead(t, b)
		rm := projection.NewReadModel(read)
		empty, err := rm.Dashboard(ctx)
		if err != nil || empty.Orders != 0 || len(empty.TopCustomers) != 0 || len(empty.Revenue) != 0 {
			t.Fatalf("empty dashboard: %+v, %v", empty, err)
		}
		events := life(t, 40, 99)
		if err := deliverDashboardMessily(read, events, 5); err != nil {
			t.Fatal(err)
		}
		want := foldDashboard(t, events)
		got, err := rm.Dashboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("dashboard\n got %+v\nwant %+v", got, want)
		}
		if len(want.Counts) < 3 || len(want.TopCustomers) == 0 {
			t.Fatalf("the events should make several statuses and customers: %+v", want)
		}
		for _, e := range events[:10] {
			if out, err := projection.ApplyDashboard(ctx, read, projection.DashboardLive, e); err != nil || out != projection.OutcomeDuplicate {
				t.Fatalf("redelivered %s v%d: %v, %v", e.Type, e.OrderVersion, out, err)
			}
		}
		// A new order's second event before its first waits.
		more := life(t, 1, 100)
		if _, err := projection.ApplyDashboard(ctx, read, projection.DashboardLive, more[1]); !errors.Is(err, projection.ErrGap) {
			t.Fatalf("an event past a gap: %v, want ErrGap", err)
		}
		if got, _ := rm.Dashboard(ctx); !reflect.DeepEqual(got, want) {
			t.Fatalf("an event past a gap changed the dashboard: %+v", got)
		}
		// Events the order's rules refuse are refused.
		bad := more[0]
		bad.OrderVersion = 2
		if _, err := projection.ApplyDashboard(ctx, read, projection.DashboardLive, more[0]); err != nil {
			t.Fatal(err)
		}
		bad.OrderID = more[0].OrderID
		if _, err := projection.ApplyDashboard(ctx, read, projection.DashboardLive, bad); !errors.Is(err, projection.ErrRefused) {
			t.Fatalf("a second OrderPlaced: %v, want ErrRefused", err)
		}
	})
}

// TestSearchUsesTheTrigramIndex checks that a search of three characters
// or more is answered through the trigram index and a shorter one without
// it, with the same rows as a scan would find — also after a shadow copy
// is swapped in.
func TestSearchUsesTheTrigramIndex(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read := openRead(t, b)
		rm := projection.NewReadModel(read)
		applyAll(t, read, projection.Live, life(t, 12, 31))
		check := func(round string) {
			t.Helper()
			for _, q := range []string{"customer 1", "CUSTOMER", "mer 3", "r 2", "1", "zz", "nobody"} {
				p, err := rm.OrderSummaries(ctx, order.SummaryQuery{Q: q, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var want int
				err = read.NewRaw("SELECT COUNT(*) FROM order_views WHERE NOT deleted AND lower(customer) LIKE ?", "%"+strings.ToLower(strings.TrimSpace(q))+"%").Scan(ctx, &want)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Orders) != want {
					t.Fatalf("%s: search %q finds %d orders, a scan %d", round, q, len(p.Orders), want)
				}
			}
		}
		check("live")
		if sqlstore.DialectName(read) != sqlstore.Postgres {
			// Emptied, the index finds nothing for three characters or
			// more — so they go through it — while shorter texts scan.
			if _, err := read.ExecContext(ctx, "DELETE FROM order_views_search"); err != nil {
				t.Fatal(err)
			}
			if p, _ := rm.OrderSummaries(ctx, order.SummaryQuery{Q: "customer"}); len(p.Orders) != 0 {
				t.Fatalf("a search for three characters or more is not answered through the index: %d orders", len(p.Orders))
			}
			if p, _ := rm.OrderSummaries(ctx, order.SummaryQuery{Q: "r 1"}); len(p.Orders) != 0 {
				t.Fatalf("a search for three characters is not answered through the index: %d orders", len(p.Orders))
			}
			if p, _ := rm.OrderSummaries(ctx, order.SummaryQuery{Q: " 1"}); len(p.Orders) == 0 {
				t.Fatal("a search for two characters finds nothing: it should scan")
			}
			if _, err := read.ExecContext(ctx, "INSERT INTO order_views_search (rowid, customer) SELECT rowid, customer FROM order_views"); err != nil {
				t.Fatal(err)
			}
			check("index refilled")
		}
		if err := projection.CreateShadow(ctx, read); err != nil {
			t.Fatal(err)
		}
		applyAll(t, read, projection.Shadow, life(t, 7, 32))
		if err := projection.SwapShadow(ctx, read); err != nil {
			t.Fatal(err)
		}
		check("after a swap")
		applyAll(t, read, projection.Live, life(t, 3, 33))
		check("after more events")
	})
}

// TestDashboardSyncTombstoneAtTheLoggedDeletion syncs the dashboard with
// the database of record while the dashboard has an order at v1 that the
// record no longer has and whose deletion (v3) is in the change log, still
// on its way: the tombstone is at v3, so the deletion arrives a duplicate
// and the order's version is the one its last command acknowledged.
func TestDashboardSyncTombstoneAtTheLoggedDeletion(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		write, read := openWrite(t, b), openRead(t, b)
		o, placed, err := order.Place(order.PlaceOrder{ID: order.NewID(), Customer: "Gone", Address: "1 High Street", Currency: "USD",
			Lines: []order.Line{{SKU: "A", Name: "Apple", Quantity: 1, UnitPriceCents: 100}}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cancelled, err := o.Cancel(order.CancelOrder{ID: o.ID}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		deleted, err := o.Delete(order.DeleteOrder{ID: o.ID}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		events := []order.Event{placed, cancelled, deleted}
		if err := changelog.Append(ctx, write, events); err != nil {
			t.Fatal(err)
		}
		if _, err := projection.ApplyDashboard(ctx, read, projection.DashboardLive, placed); err != nil {
			t.Fatal(err)
		}
		if err := projection.ReconcileDashboard(ctx, write, read, projection.DashboardLive); err != nil {
			t.Fatal(err)
		}
		if v, err := projection.DashboardVersion(ctx, read, o.ID); err != nil || v != 3 {
			t.Fatalf("tombstone at v%d (%v), want v3", v, err)
		}
		for _, e := range events[1:] {
			if out, err := projection.ApplyDashboard(ctx, read, projection.DashboardLive, e); err != nil || out != projection.OutcomeDuplicate {
				t.Fatalf("%s after the sync: %v, %v", e.Type, out, err)
			}
		}
		if d, err := projection.NewReadModel(read).Dashboard(ctx); err != nil || d.Orders != 0 || len(d.TopCustomers) != 0 {
			t.Fatalf("a deleted order on the dashboard: %+v, %v", d, err)
		}
	})
}
