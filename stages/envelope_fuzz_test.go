package stages_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// FuzzEnvelope: any bytes on stage 3's bus either are refused with an
// error or read as an event in the current payload shape (older schema
// versions upcast) that writes and reads back as itself. It lives here, not
// in the stage, so that its corpus (testdata/fuzz) stays out of the lesson.
func FuzzEnvelope(f *testing.F) {
	id := order.NewID()
	someLines := []order.Line{{SKU: "BOOK-1", Name: "Notes", Quantity: 2, UnitPriceCents: 4200}}
	event := func(id order.ID, version int, p order.Payload) order.Event {
		return order.Event{ID: uuid.Must(uuid.NewV7()), OrderID: id, OrderVersion: version, Type: p.EventType(),
			SchemaVersion: p.SchemaVersion(), OccurredAt: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC), Payload: p}
	}
	for i, p := range []order.Payload{
		order.OrderPlaced{Customer: "Ada", Address: "1 Main St", Currency: "EUR", Lines: someLines},
		order.OrderLinesChanged{Lines: someLines}, order.OrderShipped{}, order.OrderCancelled{Reason: "late"}, order.OrderDeleted{},
	} {
		b, err := changelog.Marshal(event(id, i+1, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event_id":"0197a3c4-0000-7000-8000-000000000001","order_id":"0197a3c4-0000-7000-8000-000000000002","order_version":1,"type":"OrderPlaced","schema_version":1,"occurred_at":"2026-03-01T09:30:00Z","payload":{"customer":"Ada","address":"x","lines":[{"sku":"A","name":"B","quantity":1,"unit_price_cents":5}]}}`))
	f.Add([]byte(`{"event_id":"0197a3c4-0000-7000-8000-000000000001","order_id":"0197a3c4-0000-7000-8000-000000000002","order_version":2,"type":"OrderShipped","schema_version":99,"payload":{}}`))
	f.Add([]byte(`{"type":"OrderPlaced","payload":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := changelog.Unmarshal(b)
		if err != nil {
			return
		}
		if e.Payload == nil || e.Type != e.Payload.EventType() || e.OrderVersion < 1 {
			t.Fatalf("%s read as %+v", b, e)
		}
		again, err := changelog.Marshal(e)
		if err != nil {
			t.Fatalf("an event read from %s cannot be written: %v", b, err)
		}
		back, err := changelog.Unmarshal(again)
		if err != nil {
			t.Fatalf("%s, written again as %s, cannot be read: %v", b, again, err)
		}
		if back.ID != e.ID || back.OrderID != e.OrderID || back.OrderVersion != e.OrderVersion ||
			!back.OccurredAt.Equal(e.OccurredAt) || !reflect.DeepEqual(back.Payload, e.Payload) ||
			back.SchemaVersion != e.Payload.SchemaVersion() {
			t.Fatalf("%s read as %+v, written and read again as %+v", b, e, back)
		}
	})
}
