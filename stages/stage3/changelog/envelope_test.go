package changelog_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)

var someLines = []order.Line{{SKU: "BOOK-1", Name: "Notes", Quantity: 2, UnitPriceCents: 4200}}

func event(id order.ID, version int, p order.Payload) order.Event {
	return order.Event{
		ID: uuid.Must(uuid.NewV7()), OrderID: id, OrderVersion: version, Type: p.EventType(),
		SchemaVersion: p.SchemaVersion(), OccurredAt: t0.Add(time.Duration(version) * time.Second), Payload: p,
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	id := order.NewID()
	tests := []struct {
		name    string
		payload order.Payload
	}{
		{"order_placed", order.OrderPlaced{Customer: "Ada \"<b>\" Lovelace", Address: "1 Main St\nSpringfield", Currency: "EUR", Lines: someLines}},
		{"order_lines_changed", order.OrderLinesChanged{Lines: someLines}},
		{"order_shipped", order.OrderShipped{}},
		{"order_delivered", order.OrderDelivered{}},
		{"order_cancelled", order.OrderCancelled{Reason: "out of stock"}},
		{"order_deleted", order.OrderDeleted{}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := event(id, i+1, tc.payload)
			b, err := changelog.Marshal(want)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got, err := changelog.Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestEnvelopeFields(t *testing.T) {
	e := event(order.NewID(), 3, order.OrderCancelled{Reason: "late"})
	b, err := changelog.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"event_id", "occurred_at", "order_id", "order_version", "payload", "schema_version", "type"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("envelope keys %v, want %v", keys, want)
	}
	if string(m["payload"]) != `{"reason":"late"}` || string(m["type"]) != `"OrderCancelled"` ||
		string(m["order_version"]) != "3" || string(m["event_id"]) != `"`+e.ID.String()+`"` {
		t.Fatalf("envelope %s", b)
	}
}

func TestEnvelopeUpcastsOrderPlacedV1(t *testing.T) {
	id, eid := order.NewID(), uuid.Must(uuid.NewV7())
	v1 := `{"event_id":"` + eid.String() + `","order_id":"` + id.String() + `","order_version":1,` +
		`"type":"OrderPlaced","schema_version":1,"occurred_at":"2025-06-01T10:00:00Z",` +
		`"payload":{"customer":"Ada","address":"1 Main St","lines":[{"sku":"BOOK-1","name":"Notes","quantity":2,"unit_price_cents":4200}]}}`
	e, err := changelog.Unmarshal([]byte(v1))
	if err != nil {
		t.Fatalf("Unmarshal v1: %v", err)
	}
	want := order.OrderPlaced{Customer: "Ada", Address: "1 Main St", Currency: "USD", Lines: someLines}
	if !reflect.DeepEqual(e.Payload, want) {
		t.Fatalf("v1 payload = %#v, want %#v", e.Payload, want)
	}
	if e.ID != eid || e.OrderID != id || e.OrderVersion != 1 || e.SchemaVersion != 1 || e.Type != "OrderPlaced" ||
		!e.OccurredAt.Equal(time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("v1 event = %+v", e)
	}

	// Sent on, the upcast event is written in the current shape.
	b, err := changelog.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"schema_version":2`) || !strings.Contains(string(b), `"currency":"USD"`) {
		t.Fatalf("re-marshalled v1 event %s, want schema 2 with a currency", b)
	}
	again, err := changelog.Unmarshal(b)
	if err != nil || !reflect.DeepEqual(again.Payload, want) || again.SchemaVersion != 2 {
		t.Fatalf("re-read: %+v, %v", again, err)
	}
}

func TestEnvelopeErrors(t *testing.T) {
	id, eid := order.NewID().String(), uuid.Must(uuid.NewV7()).String()
	env := func(fields string) string {
		return `{"event_id":"` + eid + `","order_id":"` + id + `","occurred_at":"2025-06-01T10:00:00Z",` + fields + `}`
	}
	bad := []struct{ name, data string }{
		{"not_json", `{"event_id":`},
		{"unknown_type", env(`"order_version":1,"type":"OrderExploded","schema_version":1,"payload":{}`)},
		{"unknown_schema_version", env(`"order_version":1,"type":"OrderPlaced","schema_version":3,"payload":{}`)},
		{"missing_payload", env(`"order_version":2,"type":"OrderShipped","schema_version":1`)},
		{"null_payload", env(`"order_version":2,"type":"OrderShipped","schema_version":1,"payload":null`)},
		{"payload_of_the_wrong_shape", env(`"order_version":2,"type":"OrderCancelled","schema_version":1,"payload":{"reason":7}`)},
		{"version_0", env(`"order_version":0,"type":"OrderShipped","schema_version":1,"payload":{}`)},
		{"no_order_id", `{"event_id":"` + eid + `","order_version":2,"type":"OrderShipped","schema_version":1,"payload":{}}`},
		{"bad_order_id", `{"event_id":"` + eid + `","order_id":"nope","order_version":2,"type":"OrderShipped","schema_version":1,"payload":{}}`},
	}
	for _, tc := range bad {
		t.Run("unmarshal_"+tc.name, func(t *testing.T) {
			if e, err := changelog.Unmarshal([]byte(tc.data)); err == nil {
				t.Fatalf("Unmarshal(%s) = %+v, want an error", tc.data, e)
			}
		})
	}

	good := event(order.NewID(), 2, order.OrderShipped{})
	wrongType, noPayload, noID := good, good, good
	wrongType.Type = "OrderDelivered"
	noPayload.Payload = nil
	noID.ID = uuid.Nil
	for name, e := range map[string]order.Event{"type_other_than_the_payload": wrongType, "no_payload": noPayload, "no_event_id": noID} {
		t.Run("marshal_"+name, func(t *testing.T) {
			if b, err := changelog.Marshal(e); err == nil {
				t.Fatalf("Marshal(%+v) = %s, want an error", e, b)
			}
		})
	}
}
