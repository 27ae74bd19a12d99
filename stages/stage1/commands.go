package stage1

import (
	"context"
	"time"

	"github.com/staircase/staircase/internal/order"
)

// commands is stage 1's command side: the CRUD service's writes, of which
// the caller now gets only an ack — the order's ID and new version — and
// never the order itself.
type commands struct {
	svc *Service
}

// PlaceOrder creates the order, or names the same order again when it was
// placed with the same ID and content.
func (c commands) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	o, _, err := c.svc.Create(ctx, cmd)
	if err != nil {
		return order.Ack{}, err
	}
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}

func (c commands) update(ctx context.Context, id order.ID, change func(o *order.Order, now time.Time) error) (order.Ack, error) {
	o, err := c.svc.Update(ctx, id, change)
	if err != nil {
		return order.Ack{}, err
	}
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}

// ChangeOrderLines updates the order's lines.
func (c commands) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	return c.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.ChangeLines(cmd, now)
		return err
	})
}

// ShipOrder updates the order's status to shipped.
func (c commands) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	return c.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.Ship(cmd, now)
		return err
	})
}

// DeliverOrder updates the order's status to delivered.
func (c commands) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	return c.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.Deliver(cmd, now)
		return err
	})
}

// CancelOrder updates the order's status to cancelled.
func (c commands) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	return c.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.Cancel(cmd, now)
		return err
	})
}

// DeleteOrder deletes the order.
func (c commands) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	o, err := c.svc.Delete(ctx, cmd.ID, cmd.ExpectedVersion)
	if err != nil {
		return order.Ack{}, err
	}
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}
