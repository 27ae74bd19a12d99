package order

import (
	"time"

	"github.com/google/uuid"
)

// ID identifies an order. Clients make it (a UUIDv7 from the order form) so
// that a repeated submit names the same order.
type ID = uuid.UUID

// ParseID parses an order ID, with an EINVALID error naming field "id".
func ParseID(s string) (ID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, &Error{Code: EINVALID, Message: "the order ID is not valid",
			Fields: []FieldError{{Field: "id", Message: "must be a UUID"}}}
	}
	return id, nil
}

// NewID returns a new time-ordered order ID (UUIDv7).
func NewID() ID {
	return uuid.Must(uuid.NewV7())
}

// Status is where an order stands in its life.
type Status string

// The statuses. placed → shipped → delivered; placed → cancelled.
const (
	Placed    Status = "placed"
	Shipped   Status = "shipped"
	Delivered Status = "delivered"
	Cancelled Status = "cancelled"
)

// Statuses lists every status in the order of an order's life.
var Statuses = []Status{Placed, Shipped, Delivered, Cancelled}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case Placed, Shipped, Delivered, Cancelled:
		return true
	}
	return false
}

// Label is the status as a person reads it.
func (s Status) Label() string {
	switch s {
	case Placed:
		return "Placed"
	case Shipped:
		return "Shipped"
	case Delivered:
		return "Delivered"
	case Cancelled:
		return "Cancelled"
	}
	return string(s)
}

// Line is one product on an order.
type Line struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// TotalCents is the line's quantity times its unit price.
func (l Line) TotalCents() int64 { return int64(l.Quantity) * l.UnitPriceCents }

// Order is an order as the rules see it: the aggregate every stage's write
// side checks its changes against.
type Order struct {
	ID        ID
	Customer  string
	Address   string
	Currency  string
	Lines     []Line
	Status    Status
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TotalCents is the sum of the order's lines.
func (o *Order) TotalCents() int64 { return TotalCents(o.Lines) }

// TotalCents sums lines.
func TotalCents(lines []Line) int64 {
	var t int64
	for _, l := range lines {
		t += l.TotalCents()
	}
	return t
}

// Can tells which changes the order's status allows, for screens that offer
// only the actions that would succeed.
type Can struct {
	ChangeLines, Ship, Deliver, Cancel, Delete bool
}

// Allowed returns the changes an order in status s allows.
func Allowed(s Status) Can {
	return Can{
		ChangeLines: s == Placed,
		Ship:        s == Placed,
		Deliver:     s == Shipped,
		Cancel:      s == Placed,
		Delete:      s == Placed || s == Cancelled,
	}
}
