package stage1

import (
	"context"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage0"
)

// queries is stage 1's query side: the rows the commands write, read
// through stage 0's CRUD service and model ("write model" is the source of
// every answer).
type queries struct {
	crud *stage0.Stage
}

// OrderSummaries lists the rows, lines and all, and sums them up.
func (q queries) OrderSummaries(ctx context.Context, sq order.SummaryQuery) (order.SummaryPage, error) {
	return q.crud.OrderSummaries(ctx, sq)
}

// OrderDetail reads the row.
func (q queries) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	return q.crud.OrderDetail(ctx, id)
}

// Dashboard aggregates the rows.
func (q queries) Dashboard(ctx context.Context) (order.Dashboard, error) {
	return q.crud.Dashboard(ctx)
}
