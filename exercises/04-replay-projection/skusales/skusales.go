// Package skusales is a new projection: how many units of each SKU the
// orders hold, counting the orders that are placed, shipped or delivered
// (a cancelled or deleted order no longer counts; changed lines count as
// changed). It is filled from stage 3's change log — every event since the
// first order, read in commit order — into a database of its own, and
// keeps the position it got to, so that running it again goes on from
// there.
//
// Exercise 04 starts here: the tables and the query are written; Apply
// and Replay are yours to write.
package skusales

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// schema is the projection's tables.
var schema = []string{
	// The answer: units per SKU.
	`CREATE TABLE IF NOT EXISTS sku_units (
		sku   TEXT NOT NULL PRIMARY KEY,
		units INTEGER NOT NULL
	)`,
	// What the projection knows of each order: the version it applied last,
	// its lines as JSON (a []order.Line), and whether they count.
	`CREATE TABLE IF NOT EXISTS sku_orders (
		order_id TEXT NOT NULL PRIMARY KEY,
		version  INTEGER NOT NULL,
		lines    TEXT NOT NULL,
		counted  BOOLEAN NOT NULL
	)`,
	// How far in the change log the projection got: one row, name 'skusales'.
	`CREATE TABLE IF NOT EXISTS sku_position (
		name  TEXT NOT NULL PRIMARY KEY,
		tx_id INTEGER NOT NULL,
		seq   INTEGER NOT NULL
	)`,
}

// Migrate makes the projection's tables in db if they are missing.
func Migrate(ctx context.Context, db *bun.DB) error {
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("skusales: make tables: %w", err)
		}
	}
	return nil
}

// Units returns the units of each SKU the projection holds, leaving out
// SKUs at zero.
func Units(ctx context.Context, db bun.IDB) (map[string]int, error) {
	var rows []struct {
		SKU   string `bun:"sku"`
		Units int    `bun:"units"`
	}
	if err := db.NewRaw("SELECT sku, units FROM sku_units WHERE units <> 0").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("skusales: read units: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.SKU] = r.Units
	}
	return out, nil
}

// ErrNotWritten is what Apply and Replay return until they are written.
var ErrNotWritten = errors.New("skusales: not written yet (exercise 04)")

// Apply folds one event into the tables, inside tx: an event at or below
// the order's stored version changes nothing.
func Apply(ctx context.Context, tx bun.Tx, e order.Event) error {
	return ErrNotWritten
}

// Replay reads the change log of the database of record write, from the
// position saved in read (the start, the first time), applies each event
// to read's tables, saves the new position with them, and returns how
// many events it read. Run again, it goes on from where it stopped.
func Replay(ctx context.Context, write, read *bun.DB) (int, error) {
	return 0, ErrNotWritten
}
