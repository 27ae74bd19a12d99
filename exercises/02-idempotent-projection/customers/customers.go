// Package customers is a small projection of its own, beside stage 3's:
// for each customer, how many orders they placed, what those came to when
// placed, and how many they cancelled. It reads the events stage 3 puts
// on its event bus, and keeps its tables in a database of its own.
//
// Exercise 02 starts here: the bus delivers each event at least once, and
// this projection counts an event as often as it is delivered.
package customers

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// schema is the projection's tables: a row per customer with the counts,
// and the customer of each order, for the events that name only the order.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS customer_orders (
		customer     TEXT NOT NULL PRIMARY KEY,
		orders       INTEGER NOT NULL,
		placed_cents INTEGER NOT NULL,
		cancelled    INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS customer_of_order (
		order_id TEXT NOT NULL PRIMARY KEY,
		customer TEXT NOT NULL
	)`,
}

// Customer is one customer's row.
type Customer struct {
	Customer    string `bun:"customer"`
	Orders      int    `bun:"orders"`
	PlacedCents int64  `bun:"placed_cents"`
	Cancelled   int    `bun:"cancelled"`
}

// Projection keeps the customer_orders table.
type Projection struct{ db *bun.DB }

// New returns the projection on db, making its tables if they are missing.
func New(ctx context.Context, db *bun.DB) (*Projection, error) {
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("customers: make tables: %w", err)
		}
	}
	return &Projection{db: db}, nil
}

// Handle applies one event message of the event bus (Watermill's
// NoPublishHandlerFunc): an error makes the bus deliver it again.
func (p *Projection) Handle(msg *message.Message) error {
	e, err := changelog.Unmarshal(msg.Payload)
	if err != nil {
		return err
	}
	return p.Apply(msg.Context(), e)
}

// Apply applies one event to the tables, in one transaction.
func (p *Projection) Apply(ctx context.Context, e order.Event) error {
	return p.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		switch pl := e.Payload.(type) {
		case order.OrderPlaced:
			var cents int64
			for _, l := range pl.Lines {
				cents += int64(l.Quantity) * l.UnitPriceCents
			}
			if _, err := tx.NewRaw("INSERT INTO customer_of_order (order_id, customer) VALUES (?, ?) ON CONFLICT (order_id) DO NOTHING",
				e.OrderID.String(), pl.Customer).Exec(ctx); err != nil {
				return fmt.Errorf("customers: order %s: %w", e.OrderID, err)
			}
			_, err := tx.NewRaw("INSERT INTO customer_orders (customer, orders, placed_cents, cancelled) VALUES (?, 1, ?, 0)"+
				" ON CONFLICT (customer) DO UPDATE SET orders = customer_orders.orders + 1,"+
				" placed_cents = customer_orders.placed_cents + excluded.placed_cents",
				pl.Customer, cents).Exec(ctx)
			if err != nil {
				return fmt.Errorf("customers: count order %s: %w", e.OrderID, err)
			}
		case order.OrderCancelled:
			_, err := tx.NewRaw("UPDATE customer_orders SET cancelled = cancelled + 1"+
				" WHERE customer = (SELECT customer FROM customer_of_order WHERE order_id = ?)", e.OrderID.String()).Exec(ctx)
			if err != nil {
				return fmt.Errorf("customers: count cancelled order %s: %w", e.OrderID, err)
			}
		}
		// The other events change nothing this projection shows.
		return nil
	})
}

// Customers returns every customer's row, by name.
func (p *Projection) Customers(ctx context.Context) ([]Customer, error) {
	var out []Customer
	if err := p.db.NewRaw("SELECT customer, orders, placed_cents, cancelled FROM customer_orders ORDER BY customer").Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("customers: read: %w", err)
	}
	return out, nil
}
