package stage1

import (
	"context"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage0"
)

// commands is stage 1's command side: stage 0's CRUD operations, of which
// the caller now gets only an ack — the order's ID and new version — and
// never the order itself.
type commands struct {
	crud *stage0.Stage
}

// PlaceOrder creates the order, or names the same order again when it was
// placed with the same ID and content.
func (c commands) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	return c.crud.PlaceOrder(ctx, cmd)
}

// ChangeOrderLines updates the order's lines.
func (c commands) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	return c.crud.ChangeOrderLines(ctx, cmd)
}

// ShipOrder updates the order's status to shipped.
func (c commands) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	return c.crud.ShipOrder(ctx, cmd)
}

// DeliverOrder updates the order's status to delivered.
func (c commands) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	return c.crud.DeliverOrder(ctx, cmd)
}

// CancelOrder updates the order's status to cancelled.
func (c commands) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	return c.crud.CancelOrder(ctx, cmd)
}

// DeleteOrder deletes the order.
func (c commands) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	return c.crud.DeleteOrder(ctx, cmd)
}
