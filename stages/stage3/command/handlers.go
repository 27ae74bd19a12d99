package command

import (
	"context"
	"time"

	"github.com/staircase/staircase/internal/order"
)

// Handlers applies commands to the write model: each loads the aggregate
// through the repository, lets the aggregate check the command against its
// rules and saves the result with the events it produced. They answer with
// an ack — the order's ID and new version — and nothing else.
type Handlers struct {
	repo *Repository
	now  func() time.Time
}

// New returns the command handlers over a repository.
func New(repo *Repository) *Handlers {
	return &Handlers{repo: repo, now: time.Now}
}

// attempts is how often a command that expects no particular version is
// tried when other writers keep saving the order between its load and its
// save. A command with an expected version is tried once: a stale version
// is the caller's conflict to see.
const attempts = 3

// PlaceOrder places a new order. Placing the same ID with the same content
// again acknowledges the order as it is now.
func (h *Handlers) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	o, ev, err := order.Place(cmd, h.now())
	if err != nil {
		return order.Ack{}, err
	}
	stored, err := h.repo.Add(ctx, o, order.Fingerprint(cmd), []order.Event{ev})
	if err != nil {
		return order.Ack{}, err
	}
	return order.Ack{ID: stored.ID, Version: stored.Version}, nil
}

// ChangeOrderLines replaces the lines of a placed order.
func (h *Handlers) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	return h.update(ctx, cmd.ID, cmd.ExpectedVersion, func(o *order.Order, now time.Time) (order.Event, error) {
		return o.ChangeLines(cmd, now)
	})
}

// ShipOrder ships a placed order.
func (h *Handlers) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	return h.update(ctx, cmd.ID, cmd.ExpectedVersion, func(o *order.Order, now time.Time) (order.Event, error) {
		return o.Ship(cmd, now)
	})
}

// DeliverOrder marks a shipped order delivered.
func (h *Handlers) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	return h.update(ctx, cmd.ID, cmd.ExpectedVersion, func(o *order.Order, now time.Time) (order.Event, error) {
		return o.Deliver(cmd, now)
	})
}

// CancelOrder cancels a placed order.
func (h *Handlers) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	return h.update(ctx, cmd.ID, cmd.ExpectedVersion, func(o *order.Order, now time.Time) (order.Event, error) {
		return o.Cancel(cmd, now)
	})
}

// DeleteOrder deletes a placed or cancelled order; the ack carries the
// version its OrderDeleted event has.
func (h *Handlers) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	return h.update(ctx, cmd.ID, cmd.ExpectedVersion, func(o *order.Order, now time.Time) (order.Event, error) {
		return o.Delete(cmd, now)
	})
}

// update runs one rule of the aggregate through the repository. When the
// caller expected no version and the save lost a race, the command runs
// again on the fresh order: the caller asked for whatever version it is.
func (h *Handlers) update(ctx context.Context, id order.ID, expected int, apply func(*order.Order, time.Time) (order.Event, error)) (order.Ack, error) {
	for try := 1; ; try++ {
		var ack order.Ack
		applied := false
		err := h.repo.Update(ctx, id, func(ctx context.Context, o *order.Order) ([]order.Event, error) {
			ev, err := apply(o, h.now())
			if err != nil {
				return nil, err
			}
			applied, ack = true, order.Ack{ID: o.ID, Version: o.Version}
			return []order.Event{ev}, nil
		})
		// Only a save can fail with a conflict after the rules passed.
		stale := applied && order.ErrorCode(err) == order.ECONFLICT
		if stale && expected == 0 && try < attempts {
			continue
		}
		if err != nil {
			return order.Ack{}, err
		}
		return ack, nil
	}
}
