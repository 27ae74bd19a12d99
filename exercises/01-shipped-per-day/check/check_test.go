//go:build exercise

// Package check is exercise 01's check: `make exercise 1` runs it. It
// fails until stage 3's retrieve API answers
// GET /api/queries/shipped-per-day from the read database.
package check

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/exercises/internal/checkapp"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

const path = "/api/queries/shipped-per-day"

type shippedPerDay struct {
	Days []struct {
		Day     string `json:"day"`
		Shipped *int   `json:"shipped"`
	} `json:"days"`
	Source string `json:"source"`
}

func TestShippedPerDay(t *testing.T) {
	a := checkapp.Start(t)
	tea := checkapp.Line{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 1250}
	before := today()

	// Today, through the API: two orders shipped (one of them delivered
	// since: it was still shipped today), one cancelled, one left placed.
	shipped := a.Place("Ada", tea)
	delivered := a.Place("Grace", tea)
	cancelled := a.Place("Edsger", tea)
	a.Place("Barbara", tea)
	a.Command("ship-order", map[string]any{"id": shipped})
	a.Command("ship-order", map[string]any{"id": delivered})
	a.Command("deliver-order", map[string]any{"id": delivered})
	a.Command("cancel-order", map[string]any{"id": cancelled})

	// Earlier days: orders placed and shipped then, their events appended
	// to the change log as the write side would have, for the relay and
	// the projector to carry to the read side like any other.
	now := time.Now().UTC()
	earlier := map[string]int{} // day → orders shipped that day
	var old []string
	for _, ago := range []int{2, 2, 5, 10} {
		at := now.AddDate(0, 0, -ago)
		old = append(old, appendShipped(t, a, at))
		earlier[at.Format(time.DateOnly)]++
	}

	a.WaitProjected(shipped, 2)
	a.WaitProjected(delivered, 3)
	a.WaitProjected(cancelled, 2)
	for _, id := range old {
		a.WaitProjected(id, 2)
	}

	r := a.Do(http.MethodGet, path, nil)
	if r.Status == http.StatusNotFound || r.Status == http.StatusMethodNotAllowed {
		t.Fatalf("GET %s answered %d: stage 3's retrieve API has no such query yet.\n"+
			"Add it: a ShippedPerDay query on the read model (stages/stage3/projection) and its route "+
			"(see exercises/01-shipped-per-day/README.md).\nThe app said: %s", path, r.Status, r.Body)
	}
	after := today()
	got := decode(t, r)
	if got.Source != string(order.ReadModel) {
		t.Errorf(`GET %s: "source" is %q, want %q: the answer comes from the read database`, path, got.Source, order.ReadModel)
	}
	if len(got.Days) != 7 {
		t.Fatalf("GET %s lists %d days, want 7 (the default: the last 7 days, today included, oldest first): %s", path, len(got.Days), r.Body)
	}
	want := map[string]int{}
	for day, n := range earlier {
		want[day] = n
	}
	last := got.Days[len(got.Days)-1].Day
	if last != before && last != after {
		t.Fatalf("GET %s: the last day listed is %q, want today (UTC), %s", path, last, after)
	}
	want[last] += 2
	checkDays(t, path, got, want, last, 7)

	// days=14 reaches the order shipped 10 days ago.
	r = a.Do(http.MethodGet, path+"?days=14", nil)
	got14 := decode(t, r)
	if len(got14.Days) != 14 {
		t.Fatalf("GET %s?days=14 lists %d days, want 14: %s", path, len(got14.Days), r.Body)
	}
	checkDays(t, path+"?days=14", got14, want, got14.Days[13].Day, 14)

	r = a.Do(http.MethodGet, path+"?days=1", nil)
	if got1 := decode(t, r); len(got1.Days) != 1 || got1.Days[0].Day != last || *got1.Days[0].Shipped != 2 {
		t.Errorf("GET %s?days=1 = %s, want today alone with 2 orders shipped", path, r.Body)
	}

	// Bad input: 422 with problem JSON naming the field, as the other
	// queries answer a filter out of range.
	for _, q := range []string{"days=0", "days=91", "days=-3", "days=seven", "days="} {
		r := a.Do(http.MethodGet, path+"?"+q, nil)
		p, ok := r.Problem()
		switch {
		case r.Status != http.StatusUnprocessableEntity || !ok:
			t.Errorf("GET %s?%s = %s, want 422 with problem JSON (days is a whole number from 1 to 90)", path, q, r)
		case !p.HasField("days"):
			t.Errorf("GET %s?%s: the problem names no field \"days\" among its errors: %s", path, q, r.Body)
		}
	}
}

// checkDays checks a listing of n days ending with last: consecutive,
// oldest first, each with its count, zero included.
func checkDays(t *testing.T, query string, got shippedPerDay, want map[string]int, last string, n int) {
	t.Helper()
	end, err := time.Parse(time.DateOnly, last)
	if err != nil {
		t.Fatalf("GET %s: day %q is not a date like 2026-11-26", query, last)
	}
	for i, d := range got.Days {
		day := end.AddDate(0, 0, i-(n-1)).Format(time.DateOnly)
		if d.Day != day {
			t.Errorf("GET %s: day %d is %q, want %q (every day listed, oldest first, as YYYY-MM-DD in UTC)", query, i, d.Day, day)
			continue
		}
		if d.Shipped == nil {
			t.Errorf("GET %s: day %s has no \"shipped\" count (0 is a count too)", query, d.Day)
			continue
		}
		if *d.Shipped != want[day] {
			t.Errorf("GET %s: %d orders shipped on %s, want %d", query, *d.Shipped, day, want[day])
		}
	}
}

func decode(t *testing.T, r checkapp.Response) shippedPerDay {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s = %s, want 200", path, r)
	}
	var got shippedPerDay
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, r.Body)
	}
	return got
}

// appendShipped records an order placed and shipped at a past time in the
// change log and returns its ID.
func appendShipped(t *testing.T, a *checkapp.App, at time.Time) string {
	t.Helper()
	o, placed, err := order.Place(order.PlaceOrder{
		ID: uuid.Must(uuid.NewV7()), Customer: "Alan", Address: "2 Old Road, Springfield",
		Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 1250}},
	}, at.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ship, err := o.Ship(order.ShipOrder{ID: o.ID, ExpectedVersion: 1}, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := changelog.Append(context.Background(), a.WriteDB, []order.Event{placed, ship}); err != nil {
		t.Fatal(err)
	}
	return o.ID.String()
}

func today() string { return time.Now().UTC().Format(time.DateOnly) }
