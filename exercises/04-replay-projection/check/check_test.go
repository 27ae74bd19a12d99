//go:build exercise

// Package check is exercise 04's check: `make exercise 4` runs it. It runs
// the app in stage 3, makes orders through its API, and fails until
// skusales.Replay fills the new projection from the change log, and goes on
// from where it stopped when run again.
package check

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/exercises/04-replay-projection/skusales"
	"github.com/staircase/staircase/exercises/internal/checkapp"
	"github.com/staircase/staircase/internal/sqlstore"
)

const readme = "exercises/04-replay-projection/README.md"

// book is what the check did to the orders, to compute the units with no
// help from the code under test.
type book struct {
	lines  map[string][]checkapp.Line
	counts map[string]bool
}

func (b book) units() map[string]int {
	out := map[string]int{}
	for id, ls := range b.lines {
		if !b.counts[id] {
			continue
		}
		for _, l := range ls {
			out[l.SKU] += l.Quantity
		}
	}
	for sku, n := range out {
		if n == 0 {
			delete(out, sku)
		}
	}
	return out
}

func line(sku string, qty int) checkapp.Line {
	return checkapp.Line{SKU: sku, Name: "Item " + sku, Quantity: qty, UnitPriceCents: 500}
}

func TestReplayFillsTheProjection(t *testing.T) {
	ctx := context.Background()
	a := checkapp.Start(t)
	b := book{lines: map[string][]checkapp.Line{}, counts: map[string]bool{}}
	place := func(customer string, lines ...checkapp.Line) string {
		id := a.Place(customer, lines...)
		b.lines[id], b.counts[id] = lines, true
		return id
	}

	// Orders made before the projection exists: it learns of them from
	// the change log alone.
	ada := place("Ada", line("TEA-01", 2), line("MUG-02", 1))
	grace := place("Grace", line("TEA-01", 5))
	edsger := place("Edsger", line("PEN-03", 10))
	barbara := place("Barbara", line("MUG-02", 3), line("PEN-03", 1))
	alan := place("Alan", line("TEA-01", 1))
	a.Command("change-order-lines", map[string]any{"id": ada, "lines": []checkapp.Line{line("TEA-01", 4), line("PEN-03", 2)}})
	b.lines[ada] = []checkapp.Line{line("TEA-01", 4), line("PEN-03", 2)}
	a.Command("ship-order", map[string]any{"id": grace})
	a.Command("deliver-order", map[string]any{"id": grace})
	a.Command("cancel-order", map[string]any{"id": edsger, "reason": "found one"})
	b.counts[edsger] = false
	a.Command("delete-order", map[string]any{"id": barbara})
	b.counts[barbara] = false
	const firstEvents = 5 + 1 + 2 + 1 + 1

	db, err := sqlstore.Open(ctx, "", filepath.Join(t.TempDir(), "skusales.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := skusales.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}

	n, err := skusales.Replay(ctx, a.WriteDB, db)
	if err != nil {
		t.Fatalf("skusales.Replay: %v\nskusales.Apply and skusales.Replay fill the projection from the change log (see %s).", err, readme)
	}
	if n != firstEvents {
		t.Errorf("the first Replay read %d events, want %d: every event in the change log, once", n, firstEvents)
	}
	expect(t, db, "after the first Replay", b.units())

	// Run again with nothing new: it reads nothing and changes nothing.
	if n, err := skusales.Replay(ctx, a.WriteDB, db); err != nil || n != 0 {
		t.Errorf("Replay again with nothing new read %d events (%v), want 0: it goes on from the position it saved", n, err)
	}
	expect(t, db, "after a second Replay with nothing new", b.units())

	// New events: the next Replay reads those alone.
	place("Frances", line("MUG-02", 7))
	a.Command("change-order-lines", map[string]any{"id": alan, "lines": []checkapp.Line{line("TEA-01", 3)}})
	b.lines[alan] = []checkapp.Line{line("TEA-01", 3)}
	a.Command("cancel-order", map[string]any{"id": ada})
	b.counts[ada] = false
	if n, err := skusales.Replay(ctx, a.WriteDB, db); err != nil || n != 3 {
		t.Errorf("Replay after 3 new events read %d events (%v), want 3", n, err)
	}
	expect(t, db, "after a Replay of 3 new events", b.units())

	// A projection rebuilt from scratch — its tables emptied, its position
	// forgotten — gets the same answer from the whole log.
	for _, table := range []string{"sku_units", "sku_orders", "sku_position"} {
		if _, err := db.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := skusales.Replay(ctx, a.WriteDB, db); err != nil || n != firstEvents+3 {
		t.Errorf("Replay into emptied tables read %d events (%v), want the whole log, %d", n, err, firstEvents+3)
	}
	expect(t, db, "after a Replay into emptied tables", b.units())
}

func expect(t *testing.T, db *bun.DB, when string, want map[string]int) {
	t.Helper()
	got, err := skusales.Units(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s the projection holds %s, want %s", when, show(got), show(want))
	}
}

func show(units map[string]int) string {
	if len(units) == 0 {
		return "no units"
	}
	s := ""
	for _, sku := range slices.Sorted(maps.Keys(units)) {
		s += fmt.Sprintf("%s×%d ", sku, units[sku])
	}
	return s[:len(s)-1]
}
