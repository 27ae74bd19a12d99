package commandbus

import (
	"context"
	"time"

	"github.com/staircase/staircase/internal/order"
)

// Versions tells an order's version as the read side knows it (stage 3's
// read model).
type Versions interface {
	Version(ctx context.Context, id order.ID) (version int, found bool, err error)
}

// Queue is the write side as the APIs see it in async mode: a decorator of
// the command handlers that applies no command itself. Each command is
// checked for its own fields (cmd.Validate: bad input is refused at once,
// as without the bus), queued on the command bus and acknowledged as
// Accepted with its command ID.
type Queue struct {
	bus      *Bus
	versions Versions
}

// Queue returns the queue in front of the bus; versions tells the version
// an order has when a command for it is accepted.
func (b *Bus) Queue(versions Versions) *Queue { return &Queue{bus: b, versions: versions} }

// PlaceOrder queues a place-order.
func (q *Queue) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	if err := cmd.Validate(); err != nil {
		return order.Ack{}, err
	}
	return q.bus.send(ctx, busCommand{Type: typePlace, OrderID: cmd.ID, Place: &cmd}, 0)
}

// ChangeOrderLines queues a change of an order's lines.
func (q *Queue) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	if err := cmd.Validate(); err != nil {
		return order.Ack{}, err
	}
	return q.bus.send(ctx, busCommand{Type: typeChangeLines, OrderID: cmd.ID, ChangeLines: &cmd}, q.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// ShipOrder queues a ship-order.
func (q *Queue) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	if err := cmd.Validate(); err != nil {
		return order.Ack{}, err
	}
	return q.bus.send(ctx, busCommand{Type: typeShip, OrderID: cmd.ID, Ship: &cmd}, q.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// DeliverOrder queues a deliver-order.
func (q *Queue) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	if err := cmd.Validate(); err != nil {
		return order.Ack{}, err
	}
	return q.bus.send(ctx, busCommand{Type: typeDeliver, OrderID: cmd.ID, Deliver: &cmd}, q.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// CancelOrder queues a cancel-order.
func (q *Queue) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	if err := cmd.Validate(); err != nil {
		return order.Ack{}, err
	}
	return q.bus.send(ctx, busCommand{Type: typeCancel, OrderID: cmd.ID, Cancel: &cmd}, q.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// DeleteOrder queues a delete-order.
func (q *Queue) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	if err := cmd.Validate(); err != nil {
		return order.Ack{}, err
	}
	return q.bus.send(ctx, busCommand{Type: typeDelete, OrderID: cmd.ID, Delete: &cmd}, q.versionNow(ctx, cmd.ID, cmd.ExpectedVersion))
}

// versionNow is the order's version when a command for it is accepted: the
// one the command expects, else the read model's (quick, and there while
// the write database is down), else 0. The BFF waits for the version after
// it before it calls the order fresh.
func (q *Queue) versionNow(ctx context.Context, id order.ID, expected int) int {
	if expected > 0 {
		return expected
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	v, _, err := q.versions.Version(ctx, id)
	if err != nil {
		return 0
	}
	return v
}

// readTimeout bounds a look-up on the path of a request that does not
// need its answer (a version, a rejection): a database that is down must
// not slow the request.
const readTimeout = 300 * time.Millisecond
