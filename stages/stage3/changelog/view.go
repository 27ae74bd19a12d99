package changelog

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Filter picks the entries List returns.
type Filter struct {
	// OrderID and Type, when set, keep the entries of that order, of that
	// type.
	OrderID uuid.UUID
	Type    string
	// Before, when positive, keeps the entries with a seq below it.
	Before int64
	// Limit bounds how many (DefaultReadLimit when not positive).
	Limit int
}

// Listed is an entry as List returns it: the entry (its Event, or Err and
// Envelope for a row the code cannot read) and the payload as stored.
type Listed struct {
	Entry
	Payload string
}

// List returns the entries f picks, newest first by seq: the event
// viewer's page. Unlike Read it reads in seq order, not commit order, and
// sees every committed row; it is for people, not for a reader that must
// not skip one.
func List(ctx context.Context, db bun.IDB, f Filter) ([]Listed, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultReadLimit
	}
	q := db.NewSelect().TableExpr("change_log").ColumnExpr(columns(db))
	if f.OrderID != uuid.Nil {
		q = q.Where("order_id = ?", f.OrderID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.Before > 0 {
		q = q.Where("seq < ?", f.Before)
	}
	var rows []row
	if err := q.OrderExpr("seq DESC").Limit(int64(f.Limit)).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list the change log: %w", err)
	}
	out := make([]Listed, len(rows))
	for i := range rows {
		out[i] = Listed{Entry: rows[i].entry(), Payload: rows[i].Payload}
	}
	return out, nil
}

// Head returns the seq of the newest entry, 0 for an empty log. It reads
// the primary key's last entry only: counting the rows would read them all.
func Head(ctx context.Context, db bun.IDB) (int64, error) {
	var head int64
	if err := db.NewRaw("SELECT COALESCE(MAX(seq), 0) FROM change_log").Scan(ctx, &head); err != nil {
		return 0, fmt.Errorf("read the change log's head: %w", err)
	}
	return head, nil
}

// After tells whether the entry at p comes after pos in commit order.
func (p Position) After(pos Position) bool {
	if p.TxID != pos.TxID {
		return p.TxID > pos.TxID
	}
	return p.Seq > pos.Seq
}
