package stage3

import (
	"context"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// lagEvents makes an order's events placed and shipped, the first at.
func lagEvents(t *testing.T, at time.Time) []order.Event {
	t.Helper()
	lines := []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 250}}
	o, placed, err := order.Place(order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 High Street", Lines: lines}, at)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := o.Ship(order.ShipOrder{ID: o.ID}, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return []order.Event{placed, shipped}
}

func TestTheLagIsTheAgeOfTheOldestEventNotProjected(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
			s := &Stage{cfg: Config{Write: write, Read: read}, projector: &Projector{metrics: newStageMetrics(nil)}}
			lag := func() float64 {
				t.Helper()
				v, ok := s.lagNow(ctx)
				if !ok {
					t.Fatal("the lag is not known")
				}
				return v
			}
			if v := lag(); v != 0 {
				t.Fatalf("an empty change log has a lag of %v s", v)
			}
			if b.Name == "postgres" {
				// A transaction older than the events holds the snapshot's
				// xmin back, so the change log's commit-order reader sees
				// none of them: the lag must not read as caught up.
				old, err := write.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = old.Rollback() })
				if _, err := old.ExecContext(ctx, "SELECT pg_current_xact_id()"); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now().Add(-time.Minute)
			first, second := lagEvents(t, start), lagEvents(t, start.Add(10*time.Second))
			for _, es := range [][]order.Event{first, second} {
				if err := write.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return changelog.Append(ctx, tx, es) }); err != nil {
					t.Fatal(err)
				}
			}
			// Nothing applied: the lag is the first event's age, and it
			// grows while nothing is applied (a stuck relay or projector).
			v := lag()
			if v < 59 || v > 70 {
				t.Fatalf("lag %v s with nothing applied, want the first event's age (~60 s)", v)
			}
			time.Sleep(1100 * time.Millisecond)
			if again := lag(); again < v+1 {
				t.Fatalf("lag %v s then %v s with nothing applied, want it growing", v, again)
			}
			apply := func(e order.Event) {
				t.Helper()
				if _, err := projection.Apply(ctx, read, projection.Live, e); err != nil {
					t.Fatal(err)
				}
			}
			apply(first[0])
			apply(first[1])
			if v := lag(); v < 49 || v > 55 {
				t.Fatalf("lag %v s with the first order applied, want the second order's first event's age (~50 s)", v)
			}
			apply(second[0])
			apply(second[1])
			if v := lag(); v != 0 {
				t.Fatalf("lag %v s with every event applied, want 0", v)
			}
		})
	}
}

func TestReadinessSaysTheStageCannotServeWithoutItsReadTables(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
			if err := tableAnswers(ctx, write, "orders"); err != nil {
				t.Fatalf("an empty orders table: %v", err)
			}
			if err := tableAnswers(ctx, read, projection.Live.Orders); err != nil {
				t.Fatalf("an empty read table: %v", err)
			}
			if _, err := read.ExecContext(ctx, "DROP TABLE "+projection.Live.Orders); err != nil {
				t.Fatal(err)
			}
			if err := tableAnswers(ctx, read, projection.Live.Orders); err == nil {
				t.Fatal("a dropped read table answers")
			}
			r := stageview.Readiness{Components: []stageview.Component{
				{Key: "read_db", State: stageview.Down, Essential: true},
				{Key: "relay", State: stageview.Degraded},
			}}
			if r.CanServe() || !r.Degraded() {
				t.Fatalf("readiness with its read database down: can serve %v, degraded %v", r.CanServe(), r.Degraded())
			}
		})
	}
}
