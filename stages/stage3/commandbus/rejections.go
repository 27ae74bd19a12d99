package commandbus

import (
	"context"
	"database/sql"
	"errors"

	"github.com/staircase/staircase/internal/order"
)

// Queries is the read side the APIs and the BFF read (stage 3's read
// model).
type Queries interface {
	OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error)
	OrderDetail(ctx context.Context, id order.ID) (order.Detail, error)
	Dashboard(ctx context.Context) (order.Dashboard, error)
	Version(ctx context.Context, id order.ID) (version int, found bool, err error)
}

// Rejections is a decorator of the read side for async mode: a command
// accepted with 202 may still break the order's rules when it is handled,
// and the order page says so (order.Detail.Rejection) until the order
// changes again.
type Rejections struct {
	bus     *Bus
	queries Queries
}

// Rejections returns q with the rejections of the bus's commands shown on
// the order detail.
func (b *Bus) Rejections(q Queries) *Rejections { return &Rejections{bus: b, queries: q} }

// OrderSummaries is the read model's.
func (r *Rejections) OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error) {
	return r.queries.OrderSummaries(ctx, q)
}

// Dashboard is the read model's.
func (r *Rejections) Dashboard(ctx context.Context) (order.Dashboard, error) {
	return r.queries.Dashboard(ctx)
}

// Version is the read model's.
func (r *Rejections) Version(ctx context.Context, id order.ID) (int, bool, error) {
	return r.queries.Version(ctx, id)
}

// OrderDetail is the read model's order detail with the rejection of the
// newest command that failed its rules after it was accepted, as long as
// the order has not changed since.
func (r *Rejections) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	d, err := r.queries.OrderDetail(ctx, id)
	if err != nil {
		return d, err
	}
	d.Rejection = r.rejection(ctx, id, d.Version)
	return d, nil
}

// rejection reads the newest rejected command of an order that is not older
// than version (its record holds the order's version when it was
// rejected), or "" when there is none or the write database does not
// answer in time.
func (r *Rejections) rejection(ctx context.Context, id order.ID, version int) string {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var row processedRow
	err := r.bus.write.NewSelect().Model(&row).
		Where("order_id = ? AND status = ? AND version >= ?", id, statusRejected, version).
		OrderExpr("version DESC, processed_at DESC").Limit(1).Scan(ctx)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			r.bus.log.DebugContext(ctx, "no rejection shown: the write database did not answer", "order", id, "err", err)
		}
		return ""
	}
	return "rejected: " + row.ErrorMessage
}
