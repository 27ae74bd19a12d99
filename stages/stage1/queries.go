package stage1

import (
	"context"

	"github.com/staircase/staircase/internal/order"
)

// queries is stage 1's query side: the rows the commands write, read
// through the same CRUD service and model ("write model" is the source of
// every answer).
type queries struct {
	svc *Service
}

// OrderSummaries lists the rows, lines and all, and sums them up.
func (q queries) OrderSummaries(ctx context.Context, sq order.SummaryQuery) (order.SummaryPage, error) {
	orders, next, err := q.svc.List(ctx, sq)
	if err != nil {
		return order.SummaryPage{}, err
	}
	page := order.SummaryPage{Orders: make([]order.Summary, len(orders)), Next: next, Source: order.WriteModel}
	for i, o := range orders {
		page.Orders[i] = order.Summary{
			ID: o.ID, Customer: o.Customer, Status: o.Status, Currency: o.Currency, LineCount: len(o.Lines),
			TotalCents: o.TotalCents(), Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		}
	}
	return page, nil
}

// OrderDetail reads the row.
func (q queries) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	o, err := q.svc.Get(ctx, id)
	if err != nil {
		return order.Detail{}, err
	}
	return order.Detail{Order: *o, TotalCents: o.TotalCents(), Source: order.WriteModel}, nil
}

// Dashboard aggregates the rows.
func (q queries) Dashboard(ctx context.Context) (order.Dashboard, error) {
	return q.svc.Dashboard(ctx)
}
