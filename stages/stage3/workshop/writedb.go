package workshop

import (
	"context"
	"time"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

// The values of the write_db control.
const (
	Up   = "up"
	Down = "down"
)

// Handlers is the write side as stage 3 runs it: the command handlers,
// which both the modify API (sync mode) and the command bus's handler
// apply commands through.
type Handlers = commandbus.Handlers

// WriteSide decorates the write side: while the write_db control is down
// each command fails as if the write database did not answer — with a 503
// Unavailable in the request, and on the command bus with
// commandbus.ErrWriteDown, so that the command waits on the bus, neither
// counted nor parked. Reads do not go through it and go on.
func (c *Controls) WriteSide(next Handlers) Handlers {
	return writeSide{next: next, c: c}
}

type writeSide struct {
	next Handlers
	c    *Controls
}

// errWriteDown is what a command gets while the write database is "down".
var errWriteDown = &httpapi.Unavailable{
	Message:    "the write database does not answer (workshop control write_db is down): nothing was changed. Send the command again shortly.",
	RetryAfter: 5 * time.Second,
	Err:        commandbus.ErrWriteDown,
}

func (w writeSide) down() error {
	if w.c.writeDown.Load() {
		return errWriteDown
	}
	return nil
}

func (w writeSide) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	if err := w.down(); err != nil {
		return order.Ack{}, err
	}
	return w.next.PlaceOrder(ctx, cmd)
}

func (w writeSide) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	if err := w.down(); err != nil {
		return order.Ack{}, err
	}
	return w.next.ChangeOrderLines(ctx, cmd)
}

func (w writeSide) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	if err := w.down(); err != nil {
		return order.Ack{}, err
	}
	return w.next.ShipOrder(ctx, cmd)
}

func (w writeSide) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	if err := w.down(); err != nil {
		return order.Ack{}, err
	}
	return w.next.DeliverOrder(ctx, cmd)
}

func (w writeSide) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	if err := w.down(); err != nil {
		return order.Ack{}, err
	}
	return w.next.CancelOrder(ctx, cmd)
}

func (w writeSide) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	if err := w.down(); err != nil {
		return order.Ack{}, err
	}
	return w.next.DeleteOrder(ctx, cmd)
}
