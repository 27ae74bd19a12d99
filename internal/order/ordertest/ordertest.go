// Package ordertest makes orders' events through the domain's own rules,
// for tests that need real events without an app.
package ordertest

import (
	"testing"
	"time"

	"github.com/staircase/staircase/internal/order"
)

// Life returns a new order's first three events, made by the rules:
// placed with one line (v1), lines changed to two (v2), shipped (v3).
func Life(tb testing.TB, customer string) []order.Event {
	tb.Helper()
	now := time.Now().UTC()
	lines := []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 1250}}
	o, placed, err := order.Place(order.PlaceOrder{ID: order.NewID(), Customer: customer, Address: "1 Main Street", Lines: lines}, now)
	if err != nil {
		tb.Fatal(err)
	}
	changed, err := o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: append(lines, order.Line{SKU: "CUP", Name: "Cup", Quantity: 1, UnitPriceCents: 500})}, now)
	if err != nil {
		tb.Fatal(err)
	}
	shipped, err := o.Ship(order.ShipOrder{ID: o.ID}, now)
	if err != nil {
		tb.Fatal(err)
	}
	return []order.Event{placed, changed, shipped}
}
