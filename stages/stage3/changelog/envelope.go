package changelog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
)

// Metadata keys of the event messages on the bus, so that tools (and the
// error log, for a message it cannot read) see what a message is without
// decoding it.
const (
	MetaOrderID = "order_id"
	MetaVersion = "order_version"
	MetaType    = "type"
)

// envelope is an event as the bus carries it.
type envelope struct {
	EventID       uuid.UUID       `json:"event_id"`
	OrderID       uuid.UUID       `json:"order_id"`
	OrderVersion  int             `json:"order_version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Payload       json.RawMessage `json:"payload"`
}

// Marshal returns the JSON envelope of e: {event_id, order_id,
// order_version, type, schema_version, occurred_at, payload}.
//
// The payload is written in its current shape, so schema_version is the
// payload's SchemaVersion, not e.SchemaVersion: an event recorded as
// OrderPlaced v1 and upcast on reading is sent as v2.
func Marshal(e order.Event) ([]byte, error) {
	payload, err := encodePayload(e)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{
		EventID: e.ID, OrderID: e.OrderID, OrderVersion: e.OrderVersion,
		Type: e.Payload.EventType(), SchemaVersion: e.Payload.SchemaVersion(),
		OccurredAt: e.OccurredAt.UTC(), Payload: payload,
	})
}

// Unmarshal reads an envelope that Marshal wrote, in this or an older schema
// version: the payload goes through order.Decode, which upcasts it to the
// current shape. The event keeps the schema version it was sent with.
func Unmarshal(b []byte) (order.Event, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return order.Event{}, fmt.Errorf("event envelope: %w", err)
	}
	e, err := decode(env.EventID, env.OrderID, env.OrderVersion, env.Type, env.SchemaVersion, env.OccurredAt, env.Payload)
	if err != nil {
		return order.Event{}, fmt.Errorf("event envelope: %w", err)
	}
	return e, nil
}

// encodePayload checks that e can be recorded and returns its payload's
// JSON.
func encodePayload(e order.Event) ([]byte, error) {
	if e.Payload == nil {
		return nil, fmt.Errorf("event %s of order %s has no payload", e.ID, e.OrderID)
	}
	if e.Type != "" && e.Type != e.Payload.EventType() {
		return nil, fmt.Errorf("event %s of order %s: type %q but a %s payload", e.ID, e.OrderID, e.Type, e.Payload.EventType())
	}
	if e.ID == uuid.Nil || e.OrderID == uuid.Nil || e.OrderVersion < 1 {
		return nil, fmt.Errorf("event %s of order %s version %d: an event needs an ID, an order and a version of 1 or more",
			e.ID, e.OrderID, e.OrderVersion)
	}
	payload, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", e.Payload.EventType(), e.ID, err)
	}
	return payload, nil
}

// decode builds an event from its recorded parts, upcasting the payload.
func decode(id, orderID uuid.UUID, version int, typ string, schema int, at time.Time, payload []byte) (order.Event, error) {
	if id == uuid.Nil || orderID == uuid.Nil || version < 1 {
		return order.Event{}, fmt.Errorf("event %s of order %s version %d: an event needs an ID, an order and a version of 1 or more",
			id, orderID, version)
	}
	if p := bytes.TrimSpace(payload); len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return order.Event{}, errors.New("event " + id.String() + " has no payload")
	}
	p, err := order.Decode(typ, schema, payload)
	if err != nil {
		return order.Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	return order.Event{
		ID: id, OrderID: orderID, OrderVersion: version, Type: typ,
		SchemaVersion: schema, OccurredAt: at.UTC(), Payload: p,
	}, nil
}
