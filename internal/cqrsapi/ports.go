package cqrsapi

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
)

// Commands is the command side the modify API drives. Each call changes one
// order and acknowledges with the order's new version (order.Ack.Accepted
// when it was only queued), or fails with an *order.Error: EINVALID for a
// bad command, ENOTFOUND for an unknown order, ECONFLICT for a change the
// order's status or version does not allow.
type Commands interface {
	PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error)
	ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error)
	ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error)
	DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error)
	CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error)
	DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error)
}

// Queries is the query side the retrieve API reads. OrderDetail returns an
// ENOTFOUND error for an unknown order; OrderSummaries an EINVALID one for
// a bad query.
type Queries interface {
	OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error)
	OrderDetail(ctx context.Context, id order.ID) (order.Detail, error)
	Dashboard(ctx context.Context) (order.Dashboard, error)
}

// Routes mounts both APIs on r, and the status of queued commands when qs
// can tell it (CommandStatuses). Handlers return errors; the router's error
// handler renders them (httpapi.WriteProblem).
func Routes(r fiber.Router, cmds Commands, qs Queries) {
	CommandRoutes(r, cmds)
	QueryRoutes(r, qs)
	if cs, ok := qs.(CommandStatuses); ok {
		CommandStatusRoute(r, cs)
	}
}
