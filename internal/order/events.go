package order

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Payload is the body of an event: what happened, in the past tense.
type Payload interface {
	EventType() string
	// SchemaVersion is the version of the payload's shape that this code
	// writes. Older versions are read through Decode's upcasters.
	SchemaVersion() int
}

// Event is one change to one order. Version is the order's version after the
// change: events of an order are numbered 1, 2, 3… with no gap.
type Event struct {
	ID            uuid.UUID
	OrderID       ID
	OrderVersion  int
	Type          string
	SchemaVersion int
	OccurredAt    time.Time
	Payload       Payload
}

func newEvent(o *Order, at time.Time, p Payload) Event {
	return Event{
		ID: uuid.Must(uuid.NewV7()), OrderID: o.ID, OrderVersion: o.Version,
		Type: p.EventType(), SchemaVersion: p.SchemaVersion(), OccurredAt: at.UTC(), Payload: p,
	}
}

// OrderPlaced: a new order. Schema 2 added Currency; schema 1 events are read
// as the shop's default currency.
type OrderPlaced struct {
	Customer string `json:"customer"`
	Address  string `json:"address"`
	Currency string `json:"currency"`
	Lines    []Line `json:"lines"`
}

// OrderLinesChanged: the lines of a placed order were replaced.
type OrderLinesChanged struct {
	Lines []Line `json:"lines"`
}

// OrderShipped: the order left the warehouse.
type OrderShipped struct{}

// OrderDelivered: the order reached the customer.
type OrderDelivered struct{}

// OrderCancelled: the order was cancelled before shipping.
type OrderCancelled struct {
	Reason string `json:"reason,omitempty"`
}

// OrderDeleted: the order was removed.
type OrderDeleted struct{}

func (OrderPlaced) EventType() string       { return "OrderPlaced" }
func (OrderLinesChanged) EventType() string { return "OrderLinesChanged" }
func (OrderShipped) EventType() string      { return "OrderShipped" }
func (OrderDelivered) EventType() string    { return "OrderDelivered" }
func (OrderCancelled) EventType() string    { return "OrderCancelled" }
func (OrderDeleted) EventType() string      { return "OrderDeleted" }

func (OrderPlaced) SchemaVersion() int       { return 2 }
func (OrderLinesChanged) SchemaVersion() int { return 1 }
func (OrderShipped) SchemaVersion() int      { return 1 }
func (OrderDelivered) SchemaVersion() int    { return 1 }
func (OrderCancelled) SchemaVersion() int    { return 1 }
func (OrderDeleted) SchemaVersion() int      { return 1 }

// orderPlacedV1 is OrderPlaced as schema 1 wrote it: amounts with no currency.
type orderPlacedV1 struct {
	Customer string `json:"customer"`
	Address  string `json:"address"`
	Lines    []Line `json:"lines"`
}

// Decode reads a payload of the given type and schema version, upcasting
// older schema versions to the current one.
func Decode(eventType string, schema int, data []byte) (Payload, error) {
	var p Payload
	switch eventType {
	case "OrderPlaced":
		switch schema {
		case 1:
			var v1 orderPlacedV1
			if err := json.Unmarshal(data, &v1); err != nil {
				return nil, fmt.Errorf("decode OrderPlaced v1: %w", err)
			}
			return OrderPlaced{Customer: v1.Customer, Address: v1.Address, Currency: DefaultCurrency, Lines: v1.Lines}, nil
		case 2:
			p = &OrderPlaced{}
		}
	case "OrderLinesChanged":
		p = &OrderLinesChanged{}
	case "OrderShipped":
		p = &OrderShipped{}
	case "OrderDelivered":
		p = &OrderDelivered{}
	case "OrderCancelled":
		p = &OrderCancelled{}
	case "OrderDeleted":
		p = &OrderDeleted{}
	default:
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	if p == nil || schema != p.SchemaVersion() {
		return nil, fmt.Errorf("%s has no schema version %d", eventType, schema)
	}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode %s v%d: %w", eventType, schema, err)
	}
	// Return the value, not the pointer, so callers switch on value types.
	switch v := p.(type) {
	case *OrderPlaced:
		return *v, nil
	case *OrderLinesChanged:
		return *v, nil
	case *OrderShipped:
		return *v, nil
	case *OrderDelivered:
		return *v, nil
	case *OrderCancelled:
		return *v, nil
	case *OrderDeleted:
		return *v, nil
	}
	return p, nil
}

// Apply evolves o by one event. o is the zero Order for an OrderPlaced. An
// event whose version is not o.Version+1 is an error: callers that receive
// events out of order keep them until the gap is filled.
func (o *Order) Apply(e Event) error {
	if e.OrderVersion != o.Version+1 {
		return fmt.Errorf("event %s of order %s has version %d, the order is at %d", e.Type, e.OrderID, e.OrderVersion, o.Version)
	}
	if _, placed := e.Payload.(OrderPlaced); placed != (e.OrderVersion == 1) {
		return fmt.Errorf("event %s of order %s at version %d: an order starts with OrderPlaced, and only once", e.Type, e.OrderID, e.OrderVersion)
	}
	switch p := e.Payload.(type) {
	case OrderPlaced:
		*o = Order{ID: e.OrderID, Customer: p.Customer, Address: p.Address, Currency: p.Currency,
			Lines: p.Lines, Status: Placed, CreatedAt: e.OccurredAt}
	case OrderLinesChanged:
		o.Lines = p.Lines
	case OrderShipped:
		o.Status = Shipped
	case OrderDelivered:
		o.Status = Delivered
	case OrderCancelled:
		o.Status = Cancelled
	case OrderDeleted:
	default:
		return fmt.Errorf("cannot apply %T", e.Payload)
	}
	o.Version = e.OrderVersion
	o.UpdatedAt = e.OccurredAt
	return nil
}
