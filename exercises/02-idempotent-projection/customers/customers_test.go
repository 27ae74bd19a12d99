package customers_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/exercises/02-idempotent-projection/customers"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// Each event applied once gives the counts; what the exercise adds (each
// event applied once however often it is delivered) its check asks.
func TestEachEventOnce(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "", filepath.Join(t.TempDir(), "customers.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := customers.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	place := func(customer string, qty int) (*order.Order, order.Event) {
		o, e, err := order.Place(order.PlaceOrder{ID: uuid.Must(uuid.NewV7()), Customer: customer, Address: "1 Main St",
			Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: qty, UnitPriceCents: 1250}}}, at)
		if err != nil {
			t.Fatal(err)
		}
		return o, e
	}
	o1, e1 := place("Ada", 2)
	_, e2 := place("Ada", 1)
	_, e3 := place("Grace", 4)
	cancel, err := o1.Cancel(order.CancelOrder{ID: o1.ID, ExpectedVersion: 1}, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []order.Event{e1, e2, e3, cancel} {
		if err := p.Apply(ctx, e); err != nil {
			t.Fatalf("Apply %s: %v", e.Type, err)
		}
	}
	got, err := p.Customers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []customers.Customer{
		{Customer: "Ada", Orders: 2, PlacedCents: 3750, Cancelled: 1},
		{Customer: "Grace", Orders: 1, PlacedCents: 5000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Customers = %+v, want %+v", got, want)
	}
}
