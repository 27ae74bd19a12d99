package stage1

import (
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// Order is the orders table row, and stage 0's only model: the service
// reads it, changes it and writes it back.
type Order struct {
	bun.BaseModel `bun:"table:orders,alias:o"`

	ID               order.ID     `bun:"id,pk"`
	Customer         string       `bun:"customer,notnull"`
	Address          string       `bun:"address,notnull"`
	Currency         string       `bun:"currency,notnull"`
	Status           order.Status `bun:"status,notnull"`
	Version          int          `bun:"version,notnull"`
	PlaceFingerprint string       `bun:"place_fingerprint,notnull"`
	CreatedAt        time.Time    `bun:"created_at,notnull"`
	UpdatedAt        time.Time    `bun:"updated_at,notnull"`

	Lines []*Line `bun:"rel:has-many,join:id=order_id"`
}

// Line is the order_lines table row.
type Line struct {
	bun.BaseModel `bun:"table:order_lines,alias:l"`

	OrderID        order.ID `bun:"order_id,pk"`
	Position       int      `bun:"position,pk"`
	SKU            string   `bun:"sku,notnull"`
	Name           string   `bun:"name,notnull"`
	Quantity       int      `bun:"quantity,notnull"`
	UnitPriceCents int64    `bun:"unit_price_cents,notnull"`
}

// Domain returns the row as the domain's order, to check a change against
// the rules.
func (r *Order) Domain() *order.Order {
	o := &order.Order{
		ID: r.ID, Customer: r.Customer, Address: r.Address, Currency: r.Currency,
		Status: r.Status, Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Lines: make([]order.Line, len(r.Lines)),
	}
	for i, l := range r.Lines {
		o.Lines[i] = order.Line{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents}
	}
	return o
}

// Row returns the row for a domain order.
func Row(o *order.Order, fingerprint string) *Order {
	r := &Order{
		ID: o.ID, Customer: o.Customer, Address: o.Address, Currency: o.Currency, Status: o.Status,
		Version: o.Version, PlaceFingerprint: fingerprint, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	r.Lines = LineRows(o.ID, o.Lines)
	return r
}

// LineRows returns the rows of an order's lines, numbered from 0.
func LineRows(id order.ID, lines []order.Line) []*Line {
	rows := make([]*Line, len(lines))
	for i, l := range lines {
		rows[i] = &Line{OrderID: id, Position: i, SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents}
	}
	return rows
}
