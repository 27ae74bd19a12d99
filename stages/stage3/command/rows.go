package command

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// Order is the orders table row: how the repository stores the aggregate
// (internal/order's Order), which is the write model.
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

// load reads one order row with its lines; forUpdate locks the row on
// PostgreSQL (SQLite's write transactions already hold the database).
func load(ctx context.Context, db bun.IDB, id order.ID, forUpdate bool) (*Order, error) {
	r := new(Order)
	q := db.NewSelect().Model(r).Where("o.id = ?", id)
	if forUpdate && sqlstore.DialectName(db) == sqlstore.Postgres {
		q = q.For("UPDATE OF o")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, order.NotFound(id)
		}
		return nil, fmt.Errorf("load order %s: %w", id, err)
	}
	if err := db.NewSelect().Model(&r.Lines).Where("l.order_id = ?", id).Order("l.position").Scan(ctx); err != nil {
		return nil, fmt.Errorf("load lines of %s: %w", id, err)
	}
	return r, nil
}

// Load reads one order with its lines inside or outside a transaction,
// locking it for the rest of the transaction on PostgreSQL when forUpdate.
func Load(ctx context.Context, db bun.IDB, id order.ID, forUpdate bool) (*order.Order, string, error) {
	r, err := load(ctx, db, id, forUpdate)
	if err != nil {
		return nil, "", err
	}
	return r.Domain(), r.PlaceFingerprint, nil
}

// Save writes a changed order over the row at version from, replacing its
// lines when linesChanged. If the row is no longer at version from, it
// returns an ECONFLICT error: someone else wrote it meanwhile.
func Save(ctx context.Context, db bun.IDB, o *order.Order, from int, linesChanged bool) error {
	res, err := db.NewUpdate().Model((*Order)(nil)).
		Set("status = ?", o.Status).Set("version = ?", o.Version).Set("updated_at = ?", o.UpdatedAt).
		Where("id = ?", o.ID).Where("version = ?", from).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("update order %s: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return staleWrite(ctx, db, o.ID, from)
	}
	if !linesChanged {
		return nil
	}
	if _, err := db.NewDelete().Model((*Line)(nil)).Where("order_id = ?", o.ID).Exec(ctx); err != nil {
		return fmt.Errorf("replace lines of %s: %w", o.ID, err)
	}
	rows := LineRows(o.ID, o.Lines)
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("replace lines of %s: %w", o.ID, err)
	}
	return nil
}

// Remove deletes the order row at version from (its lines go with it).
func Remove(ctx context.Context, db bun.IDB, id order.ID, from int) error {
	res, err := db.NewDelete().Model((*Order)(nil)).Where("id = ?", id).Where("version = ?", from).Exec(ctx)
	if err != nil {
		return fmt.Errorf("delete order %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return staleWrite(ctx, db, id, from)
	}
	return nil
}

func staleWrite(ctx context.Context, db bun.IDB, id order.ID, from int) error {
	current, err := load(ctx, db, id, false)
	if err != nil {
		return err
	}
	return order.VersionConflict(current.Domain(), from)
}
