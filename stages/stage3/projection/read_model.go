package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// ReadModel answers the screens' queries from the read database's live
// tables, which the projection fills. Each answer is as fresh as the
// events projected so far; Version tells how fresh for one order.
type ReadModel struct {
	db *bun.DB
	t  Tables
}

// NewReadModel returns the read model on the read database (migrated read
// side).
func NewReadModel(db *bun.DB) *ReadModel { return &ReadModel{db: db, t: Live} }

// OrderSummaries returns a page of the orders list, newest first, with a
// keyset cursor for the next page — the same filters and cursor as every
// other stage. Deleted orders are left out.
func (m *ReadModel) OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error) {
	q, err := q.Normalize()
	if err != nil {
		return order.SummaryPage{}, err
	}
	var rows []order.Summary
	sel := m.db.NewSelect().TableExpr("? AS v", bun.Ident(m.t.Orders)).
		ColumnExpr("v.id, v.customer, v.status, v.currency, v.line_count, v.total_cents, v.version, v.created_at, v.updated_at").
		Where("NOT v.deleted").
		OrderExpr("v.created_at DESC, v.id DESC").
		Limit(int64(q.Limit + 1))
	if err := filter(sel, "v", m.t, q).Scan(ctx, &rows); err != nil {
		return order.SummaryPage{}, fmt.Errorf("list order summaries: %w", err)
	}
	return order.Page(rows, q.Limit, order.ReadModel), nil
}

// OrderDetail returns what the order page shows, with the order's history,
// read in one snapshot. A missing or deleted order is ENOTFOUND.
func (m *ReadModel) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	var d order.Detail
	err := m.db.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		v, err := loadView(ctx, tx, m.t, id)
		if err != nil {
			return err
		}
		if v == nil || v.Deleted {
			return order.NotFound(id)
		}
		o, err := v.order()
		if err != nil {
			return err
		}
		var rows []history
		err = tx.NewSelect().Model(&rows).ModelTableExpr("? AS h", bun.Ident(m.t.History)).
			Where("h.order_id = ?", id).Order("h.version").Scan(ctx)
		if err != nil {
			return fmt.Errorf("read history of order %s: %w", id, err)
		}
		d = order.Detail{Order: *o, TotalCents: v.TotalCents, Source: order.ReadModel,
			History: make([]order.HistoryEntry, len(rows))}
		for i, h := range rows {
			d.History[i] = order.HistoryEntry{Version: h.Version, Type: h.Type, At: h.OccurredAt.UTC(), Text: h.Text}
		}
		return nil
	})
	return d, err
}

// Version returns the version of an order the read side has, for freshness
// checks: found is false for an order it does not have, and for a deleted
// one, whose version is then the tombstone's.
func (m *ReadModel) Version(ctx context.Context, id order.ID) (version int, found bool, err error) {
	var row struct {
		Version int  `bun:"version"`
		Deleted bool `bun:"deleted"`
	}
	err = m.db.NewSelect().TableExpr("? AS v", bun.Ident(m.t.Orders)).
		ColumnExpr("v.version, v.deleted").Where("v.id = ?", id).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read version of order %s: %w", id, err)
	}
	return row.Version, !row.Deleted, nil
}
