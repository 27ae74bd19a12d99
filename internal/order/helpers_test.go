package order_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
)

// t0 is deliberately not UTC and not a whole microsecond: every time the
// package stores must come out as UTC truncated to the microsecond.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CET", 3600))

var orderID = uuid.MustParse("01959a3c-6f1e-7b2a-9c3d-4e5f60718293")

// at is t0 plus k minutes: the time of the k-th change in a test.
func at(k int) time.Time { return t0.Add(time.Duration(k) * time.Minute) }

// stored is how the package stores a time: UTC, truncated to microseconds.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// validPlace is a PlaceOrder that passes every rule.
func validPlace() order.PlaceOrder {
	return order.PlaceOrder{
		ID:       orderID,
		Customer: "Ada Lovelace",
		Address:  "12 St James's Square\nLondon SW1Y 4JH",
		Currency: "GBP",
		Lines: []order.Line{
			{SKU: "BOOK-1", Name: "Notes on the Analytical Engine", Quantity: 1, UnitPriceCents: 4200},
			{SKU: "pen_2.blue", Name: "Fountain pen", Quantity: 3, UnitPriceCents: 1599},
		},
	}
}

// nLines returns n valid lines with distinct SKUs.
func nLines(n int) []order.Line {
	out := make([]order.Line, n)
	for i := range out {
		out[i] = order.Line{SKU: fmt.Sprintf("SKU-%d", i+1), Name: fmt.Sprintf("Item %d", i+1), Quantity: 1, UnitPriceCents: 100}
	}
	return out
}

// otherLines is a valid replacement for validPlace's lines.
func otherLines() []order.Line {
	return []order.Line{{SKU: "MUG-7", Name: "Mug", Quantity: 2, UnitPriceCents: 899}}
}

func mustPlace(t *testing.T, cmd order.PlaceOrder) *order.Order {
	t.Helper()
	o, _, err := order.Place(cmd, t0)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	return o
}

// orderIn returns an order brought to status s by the commands.
func orderIn(t *testing.T, s order.Status) *order.Order {
	t.Helper()
	o := mustPlace(t, validPlace())
	var err error
	switch s {
	case order.Placed:
	case order.Shipped:
		_, err = o.Ship(order.ShipOrder{ID: o.ID}, at(1))
	case order.Delivered:
		if _, err = o.Ship(order.ShipOrder{ID: o.ID}, at(1)); err == nil {
			_, err = o.Deliver(order.DeliverOrder{ID: o.ID}, at(2))
		}
	case order.Cancelled:
		_, err = o.Cancel(order.CancelOrder{ID: o.ID, Reason: "changed my mind"}, at(1))
	default:
		t.Fatalf("orderIn: unknown status %q", s)
	}
	if err != nil {
		t.Fatalf("bringing the order to %s: %v", s, err)
	}
	if o.Status != s {
		t.Fatalf("order is %s, want %s", o.Status, s)
	}
	return o
}

// snapshot is a deep copy of o to compare against later.
func snapshot(o *order.Order) order.Order {
	c := *o
	c.Lines = append([]order.Line(nil), o.Lines...)
	return c
}

// asError returns err as an *order.Error, failing the test if it is not one.
func asError(t *testing.T, err error) *order.Error {
	t.Helper()
	var e *order.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *order.Error", err, err)
	}
	return e
}

// fieldNames lists the fields of err's field errors, in order.
func fieldNames(err error) []string {
	var names []string
	for _, f := range order.FieldErrors(err) {
		names = append(names, f.Field)
	}
	return names
}

// wantInvalid checks that err is EINVALID naming exactly fields, in order.
func wantInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s on %v", order.EINVALID, fields)
	}
	if got := order.ErrorCode(err); got != order.EINVALID {
		t.Fatalf("ErrorCode = %q, want %q (err: %v)", got, order.EINVALID, err)
	}
	if got := fieldNames(err); !reflect.DeepEqual(got, fields) {
		t.Fatalf("fields = %q, want %q (err: %v)", got, fields, err)
	}
	for _, f := range order.FieldErrors(err) {
		if strings.TrimSpace(f.Message) == "" {
			t.Errorf("field %s has no message", f.Field)
		}
	}
}

// wantConflictCopy checks that err is ECONFLICT carrying a copy of o as it
// was (before), and that o itself is unchanged.
func wantConflictCopy(t *testing.T, err error, o *order.Order, before order.Order) *order.Error {
	t.Helper()
	if got := order.ErrorCode(err); got != order.ECONFLICT {
		t.Fatalf("ErrorCode = %q, want %q (err: %v)", got, order.ECONFLICT, err)
	}
	e := asError(t, err)
	if e.Current == nil {
		t.Fatalf("conflict has no Current order")
	}
	if e.Current == o {
		t.Fatalf("Current is the order itself, want a copy")
	}
	if !reflect.DeepEqual(*e.Current, before) {
		t.Fatalf("Current = %+v, want %+v", *e.Current, before)
	}
	if !reflect.DeepEqual(*o, before) {
		t.Fatalf("refused change modified the order: %+v, was %+v", *o, before)
	}
	// The copy shares nothing with the order.
	if len(e.Current.Lines) > 0 {
		e.Current.Lines[0].Quantity += 99
		if o.Lines[0].Quantity == e.Current.Lines[0].Quantity {
			t.Fatalf("Current shares its lines with the order")
		}
		e.Current.Lines[0].Quantity -= 99
	}
	return e
}
