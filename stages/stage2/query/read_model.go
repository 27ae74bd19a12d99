package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// ReadModel answers the screens' queries from the read views.
type ReadModel struct {
	db bun.IDB
}

// New returns the read model on the write database (migrated: the views
// live there).
func New(db bun.IDB) *ReadModel { return &ReadModel{db: db} }

// OrderSummaries returns a page of the orders list, newest first, with a
// keyset cursor for the next page.
func (m *ReadModel) OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error) {
	q, err := q.Normalize()
	if err != nil {
		return order.SummaryPage{}, err
	}
	var rows []order.Summary
	sel := m.db.NewSelect().TableExpr("order_summaries AS s").
		ColumnExpr("s.id, s.customer, s.status, s.currency, s.line_count, s.total_cents, s.version, s.created_at, s.updated_at").
		OrderExpr("s.created_at DESC, s.id DESC").Limit(int64(q.Limit + 1))
	if err := filter(sel, "s", q).Scan(ctx, &rows); err != nil {
		return order.SummaryPage{}, fmt.Errorf("list order summaries: %w", err)
	}
	return order.Page(rows, q.Limit, order.ReadModel), nil
}

// detail is the head of the order page: the order's fields and its total.
type detail struct {
	ID         order.ID     `bun:"id"`
	Customer   string       `bun:"customer"`
	Address    string       `bun:"address"`
	Currency   string       `bun:"currency"`
	Status     order.Status `bun:"status"`
	Version    int          `bun:"version"`
	TotalCents int64        `bun:"total_cents"`
	CreatedAt  time.Time    `bun:"created_at"`
	UpdatedAt  time.Time    `bun:"updated_at"`
}

// OrderDetail returns what the order page shows, read in one snapshot (a
// read-only transaction, which SQLite begins deferred: it takes no write
// lock).
func (m *ReadModel) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	var d order.Detail
	err := m.db.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		var head detail
		err := tx.NewSelect().TableExpr("orders AS o").
			Join("JOIN order_summaries AS s ON s.id = o.id").
			ColumnExpr("o.id, o.customer, o.address, o.currency, o.status, o.version, s.total_cents, o.created_at, o.updated_at").
			Where("o.id = ?", id).
			Scan(ctx, &head)
		if errors.Is(err, sql.ErrNoRows) {
			return order.NotFound(id)
		}
		if err != nil {
			return fmt.Errorf("read order %s: %w", id, err)
		}
		lines := []order.Line{}
		err = tx.NewSelect().Table("order_lines").
			Column("sku", "name", "quantity", "unit_price_cents").
			Where("order_id = ?", id).
			Order("position").
			Scan(ctx, &lines)
		if err != nil {
			return fmt.Errorf("read lines of order %s: %w", id, err)
		}
		d = order.Detail{
			Order: order.Order{
				ID: head.ID, Customer: head.Customer, Address: head.Address, Currency: head.Currency, Lines: lines,
				Status: head.Status, Version: head.Version, CreatedAt: head.CreatedAt.UTC(), UpdatedAt: head.UpdatedAt.UTC(),
			},
			TotalCents: head.TotalCents,
			Source:     order.ReadModel,
		}
		return nil
	})
	return d, err
}

// Dashboard returns the count of orders per status, the revenue per
// currency and the top customers, from the order_status_counts and
// customer_revenue views.
func (m *ReadModel) Dashboard(ctx context.Context) (order.Dashboard, error) {
	d := order.Dashboard{Counts: map[order.Status]int{}, Revenue: order.Money{}, Source: order.ReadModel}
	err := m.db.RunInTx(ctx, &sql.TxOptions{ReadOnly: true}, func(ctx context.Context, tx bun.Tx) error {
		var counts []struct {
			Status order.Status `bun:"status"`
			Orders int          `bun:"orders"`
		}
		if err := tx.NewSelect().Table("order_status_counts").Column("status", "orders").Scan(ctx, &counts); err != nil {
			return fmt.Errorf("count orders: %w", err)
		}
		for _, c := range counts {
			d.Counts[c.Status] = c.Orders
			d.Orders += c.Orders
		}
		var sums []order.CustomerSum
		if err := tx.NewSelect().Table("customer_revenue").Column("customer", "currency", "orders", "cents").Scan(ctx, &sums); err != nil {
			return fmt.Errorf("sum revenue: %w", err)
		}
		d.Revenue, d.TopCustomers = order.Rank(sums)
		return nil
	})
	return d, err
}
