//go:build exercise

// Package check is exercise 03's check: `make exercise 3` runs it. It fails
// until OrderShipped has a schema version 2 that records the carrier, with
// an upcaster that reads the version 1 events already in change logs.
package check

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/exercises/internal/checkapp"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

const readme = "exercises/03-event-schema-version/README.md"

// carrierOf decodes an OrderShipped payload of a schema version and
// returns its carrier, seen through the payload's JSON so that this check
// builds before the field exists.
func carrierOf(t *testing.T, schema int, data string) string {
	t.Helper()
	p, err := order.Decode("OrderShipped", schema, []byte(data))
	if err != nil {
		t.Fatalf("order.Decode(OrderShipped, schema %d, %s): %v\n"+
			"OrderShipped must have a schema version 2 with a carrier, and an upcaster for version 1 (see %s).", schema, data, err, readme)
	}
	if v := p.SchemaVersion(); v != 2 {
		t.Fatalf("OrderShipped{}.SchemaVersion() = %d, want 2: new events are written in the new shape", v)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	c, ok := fields["carrier"].(string)
	if !ok {
		t.Fatalf(`OrderShipped as JSON is %s: it has no "carrier" string`, raw)
	}
	return c
}

func TestOrderShippedV2(t *testing.T) {
	// The domain: version 2 reads its carrier, version 1 is upcast.
	if c := carrierOf(t, 2, `{"carrier":"DHL"}`); c != "DHL" {
		t.Fatalf(`OrderShipped v2 {"carrier":"DHL"} decodes with carrier %q, want "DHL"`, c)
	}
	if c := carrierOf(t, 1, `{}`); c != "standard" {
		t.Fatalf(`OrderShipped v1 {} is upcast with carrier %q, want "standard": every order went by the standard service before carriers were recorded`, c)
	}
	if p, err := order.Decode("OrderShipped", 3, []byte(`{"carrier":"DHL"}`)); err == nil {
		t.Fatalf("order.Decode(OrderShipped, schema 3) = %#v, want an error: there is no version 3", p)
	}

	// The app, in stage 3: the ship command takes a carrier, and the
	// change log records the event in its new shape.
	a := checkapp.Start(t)
	tea := checkapp.Line{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 1250}
	byDHL := a.Place("Ada", tea)
	r := a.Do(http.MethodPost, "/api/commands/ship-order", map[string]any{"id": byDHL, "carrier": "DHL"})
	if r.Status != http.StatusNoContent {
		t.Fatalf(`POST /api/commands/ship-order {"carrier": "DHL"} = %s, want 204: the ship command takes an optional carrier (internal/httpapi, internal/order)`, r)
	}
	plain := a.Place("Grace", tea)
	a.Command("ship-order", map[string]any{"id": plain})
	for id, want := range map[string]string{byDHL: "DHL", plain: "standard"} {
		schema, payload := recorded(t, a, id, 2)
		if schema != 2 {
			t.Errorf("the change log records order %s's OrderShipped with schema version %d, want 2", id, schema)
		}
		if c := carrierOf(t, schema, payload); c != want {
			t.Errorf("the change log records order %s's OrderShipped with carrier %q (%s), want %q", id, c, payload, want)
		}
	}
	a.WaitProjected(byDHL, 2)
	a.WaitProjected(plain, 2)

	// A carrier is checked like any other field: too long, or with
	// control characters, is a field error and changes nothing.
	refused := a.Place("Edsger", tea)
	for _, bad := range []string{strings.Repeat("x", 41), "DHL\nExpress"} {
		r := a.Do(http.MethodPost, "/api/commands/ship-order", map[string]any{"id": refused, "carrier": bad})
		p, ok := r.Problem()
		if r.Status != http.StatusUnprocessableEntity || !ok || !p.HasField("carrier") {
			t.Errorf("ship-order with carrier %q = %s, want 422 with a field error on \"carrier\" (at most 40 characters, no control characters)", bad, r)
		}
	}
	var later int
	if err := a.WriteDB.NewRaw("SELECT COUNT(*) FROM change_log WHERE order_id = ? AND order_version > 1", refused).
		Scan(context.Background(), &later); err != nil {
		t.Fatal(err)
	}
	if later != 0 {
		t.Errorf("after refused ship commands, the change log has %d later events of order %s, want none", later, refused)
	}

	// An order shipped before the change: its OrderShipped v1 is in the
	// change log; the relay, the projector and every reader of the log
	// read it through the upcaster.
	legacy := appendLegacy(t, a)
	a.WaitProjected(legacy.String(), 2)
	if o, _ := a.Order(legacy.String()); o.Status != string(order.Shipped) {
		t.Errorf("the order with an OrderShipped v1 event is %s on the read side, want shipped", o.Status)
	}
	events, err := changelog.ForOrder(context.Background(), a.WriteDB, legacy)
	if err != nil {
		t.Fatalf("read the change log of the order shipped in schema 1: %v", err)
	}
	if len(events) != 2 {
		t.Fatalf("the change log has %d events of the order shipped in schema 1, want 2", len(events))
	}
	raw, _ := json.Marshal(events[1].Payload)
	if !strings.Contains(string(raw), `"carrier":"standard"`) {
		t.Errorf("an OrderShipped v1 read from the change log is %s, want carrier \"standard\"", raw)
	}
}

// recorded returns the schema version and payload the change log holds for
// an order's version.
func recorded(t *testing.T, a *checkapp.App, id string, version int) (int, string) {
	t.Helper()
	var row struct {
		Schema  int    `bun:"schema_version"`
		Payload string `bun:"payload"`
	}
	err := a.WriteDB.NewRaw("SELECT schema_version, payload FROM change_log WHERE order_id = ? AND order_version = ?", id, version).
		Scan(context.Background(), &row)
	if err != nil {
		t.Fatalf("read order %s v%d from the change log: %v", id, version, err)
	}
	return row.Schema, row.Payload
}

// appendLegacy appends an order placed and shipped as the app recorded it
// before OrderShipped v2: the shipped event in schema version 1, no
// carrier.
func appendLegacy(t *testing.T, a *checkapp.App) order.ID {
	t.Helper()
	ctx := context.Background()
	at := time.Now().UTC().Add(-24 * time.Hour)
	o, placed, err := order.Place(order.PlaceOrder{
		ID: uuid.Must(uuid.NewV7()), Customer: "Alan", Address: "2 Old Road, Springfield",
		Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 1250}},
	}, at)
	if err != nil {
		t.Fatal(err)
	}
	err = a.WriteDB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := changelog.Append(ctx, tx, []order.Event{placed}); err != nil {
			return err
		}
		_, err := tx.NewRaw("INSERT INTO change_log (event_id, order_id, order_version, type, schema_version, payload, occurred_at)"+
			" VALUES (?, ?, 2, 'OrderShipped', 1, '{}', ?)", uuid.Must(uuid.NewV7()), o.ID, at.Add(time.Hour)).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("append an order shipped in schema 1: %v", err)
	}
	return o.ID
}
