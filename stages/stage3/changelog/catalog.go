package changelog

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// EnvelopeExample is an envelope as Marshal writes it around a payload,
// for the event catalog: its fields are the envelope's own, from the type
// Marshal and Unmarshal use.
func EnvelopeExample(payload json.RawMessage) any {
	return envelope{
		EventID: uuid.MustParse("0190a0e0-0000-7000-8000-0000000000e1"), OrderID: uuid.MustParse("0190a0e0-0000-7000-8000-000000000001"),
		OrderVersion: 1, Type: "OrderPlaced", SchemaVersion: 2,
		OccurredAt: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Payload: payload,
	}
}

// EnvelopeMeanings say what each envelope field means, by its JSON name.
var EnvelopeMeanings = map[string]string{
	"event_id":       "The event's ID (UUIDv7); the bus's message ID, so a copy published again is dropped.",
	"order_id":       "The order the event changed.",
	"order_version":  "The order's version after the change: an order's events are 1, 2, 3… with no gap.",
	"type":           "The event type, e.g. OrderPlaced.",
	"schema_version": "The version of the payload's shape; older ones are upcast when read.",
	"occurred_at":    "When the change was committed in the database of record.",
	"payload":        "What happened: the fields of the event type at its schema version.",
}
