package projection_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// backends runs f once per database engine, as a subtest.
func backends(t *testing.T, f func(t *testing.T, b sqltest.Backend)) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

func openRead(t testing.TB, b sqltest.Backend) *bun.DB  { return sqltest.Open(t, b, migrations.Read) }
func openWrite(t testing.TB, b sqltest.Backend) *bun.DB { return sqltest.Open(t, b, migrations.Write) }

// life makes the events of n orders through the domain, each with a few
// changes after its placement, deterministically from seed. Some orders end
// deleted.
func life(t testing.TB, n int, seed uint64) []order.Event {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tick := func() time.Time { at = at.Add(time.Duration(1+rng.IntN(5000)) * time.Millisecond); return at }
	var events []order.Event
	must := func(e order.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	for i := range n {
		o, e, err := order.Place(order.PlaceOrder{
			ID: order.NewID(), Customer: fmt.Sprintf("Customer %d", i%4), Address: "1 High Street",
			Currency: order.Currencies[i%len(order.Currencies)],
			Lines:    lines(rng, 1+rng.IntN(3)),
		}, tick())
		must(e, err)
		for range 1 + rng.IntN(2) {
			must(o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: lines(rng, 1+rng.IntN(4))}, tick()))
		}
		switch i % 5 {
		case 0, 1:
			must(o.Ship(order.ShipOrder{ID: o.ID}, tick()))
			if i%5 == 0 {
				must(o.Deliver(order.DeliverOrder{ID: o.ID}, tick()))
			}
		case 2:
			must(o.Cancel(order.CancelOrder{ID: o.ID, Reason: "changed my mind"}, tick()))
			if i%2 == 0 {
				must(o.Delete(order.DeleteOrder{ID: o.ID}, tick()))
			}
		case 3:
			must(o.Delete(order.DeleteOrder{ID: o.ID}, tick()))
		}
	}
	return events
}

func lines(rng *rand.Rand, n int) []order.Line {
	ls := make([]order.Line, n)
	for i := range ls {
		ls[i] = order.Line{SKU: fmt.Sprintf("SKU-%d", i), Name: fmt.Sprintf("Thing %d", i),
			Quantity: 1 + rng.IntN(9), UnitPriceCents: int64(50 + rng.IntN(5000))}
	}
	return ls
}

// applyAll applies events in the order given, each once, failing on any
// error or duplicate.
func applyAll(t testing.TB, db *bun.DB, tables projection.Tables, events []order.Event) {
	t.Helper()
	for _, e := range events {
		out, err := projection.Apply(context.Background(), db, tables, e)
		if err != nil {
			t.Fatalf("apply %s v%d: %v", e.Type, e.OrderVersion, err)
		}
		if out != projection.OutcomeApplied {
			t.Fatalf("apply %s v%d: %v, want applied", e.Type, e.OrderVersion, out)
		}
	}
}

// deliverMessily applies a shuffled stream of events with each one 1–3
// times, as an at-least-once bus might; an event that meets a gap is put
// back in the queue and retried after the others.
func deliverMessily(db *bun.DB, events []order.Event, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 2))
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
		_, err := projection.Apply(context.Background(), db, projection.Live, e)
		switch {
		case errors.Is(err, projection.ErrGap):
			queue = append(queue, e)
		case err != nil:
			return fmt.Errorf("apply %s v%d: %w", e.Type, e.OrderVersion, err)
		}
	}
	return nil
}

// deliverInOrder applies each event once, in order.
func deliverInOrder(db *bun.DB, events []order.Event) error {
	for _, e := range events {
		if _, err := projection.Apply(context.Background(), db, projection.Live, e); err != nil {
			return fmt.Errorf("apply %s v%d: %w", e.Type, e.OrderVersion, err)
		}
	}
	return nil
}

// viewRow and historyRow are the read tables' columns, for dumps.
type viewRow struct {
	ID         order.ID  `bun:"id"`
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

type historyRow struct {
	OrderID    order.ID  `bun:"order_id"`
	Version    int       `bun:"version"`
	Type       string    `bun:"type"`
	OccurredAt time.Time `bun:"occurred_at"`
	Text       string    `bun:"text"`
}

type dumpT struct {
	Views   []viewRow
	History []historyRow
}

// dump reads both read tables whole, in key order.
func dump(t testing.TB, db *bun.DB, tables projection.Tables) dumpT {
	t.Helper()
	ctx := context.Background()
	var d dumpT
	if err := db.NewSelect().TableExpr("?", bun.Ident(tables.Orders)).ColumnExpr("*").OrderExpr("id").Scan(ctx, &d.Views); err != nil {
		t.Fatal(err)
	}
	if err := db.NewSelect().TableExpr("?", bun.Ident(tables.History)).ColumnExpr("*").OrderExpr("order_id, version").Scan(ctx, &d.History); err != nil {
		t.Fatal(err)
	}
	for i := range d.Views {
		d.Views[i].CreatedAt, d.Views[i].UpdatedAt = d.Views[i].CreatedAt.UTC(), d.Views[i].UpdatedAt.UTC()
	}
	for i := range d.History {
		d.History[i].OccurredAt = d.History[i].OccurredAt.UTC()
	}
	return d
}

func sameDump(t testing.TB, got, want dumpT) {
	t.Helper()
	if len(got.Views) != len(want.Views) || len(got.History) != len(want.History) {
		t.Fatalf("dump sizes: %d views, %d history; want %d, %d", len(got.Views), len(got.History), len(want.Views), len(want.History))
	}
	for i := range want.Views {
		if !reflect.DeepEqual(got.Views[i], want.Views[i]) {
			t.Fatalf("view %d:\n got %+v\nwant %+v", i, got.Views[i], want.Views[i])
		}
	}
	for i := range want.History {
		if !reflect.DeepEqual(got.History[i], want.History[i]) {
			t.Fatalf("history %d:\n got %+v\nwant %+v", i, got.History[i], want.History[i])
		}
	}
}

// allSummaries pages through the orders list.
func allSummaries(t testing.TB, rm interface {
	OrderSummaries(context.Context, order.SummaryQuery) (order.SummaryPage, error)
}, q order.SummaryQuery) ([]order.Summary, []string) {
	t.Helper()
	var out []order.Summary
	var cursors []string
	for range 1000 {
		p, err := rm.OrderSummaries(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Orders...)
		cursors = append(cursors, p.Next)
		if p.Next == "" {
			return out, cursors
		}
		q.After = p.Next
	}
	t.Fatal("paging does not end")
	return nil, nil
}
