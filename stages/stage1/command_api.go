package stage1

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
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

// commandRoutes mounts the modify API: POST /api/commands/{name}, one name
// per command. A command answers 204 No Content (201 Created with the new
// order's key for place-order) with the order's new version as a strong
// ETag, or a problem; or, when it was only queued, 202 Accepted with the
// order's key and the command's ID, and as Location the command's status
// (httpapi.Answer). Adding a command is adding a row.
func commandRoutes(r fiber.Router, cmds Commands) {
	table := httpapi.Commands{
		httpapi.NewCommand("place-order", httpapi.DecodePlaceOrder, cmds.PlaceOrder).Creating(),
		httpapi.NewCommand("change-order-lines", httpapi.DecodeChangeOrderLines, cmds.ChangeOrderLines),
		httpapi.NewCommand("ship-order", httpapi.DecodeShipOrder, cmds.ShipOrder),
		httpapi.NewCommand("deliver-order", httpapi.DecodeDeliverOrder, cmds.DeliverOrder),
		httpapi.NewCommand("cancel-order", httpapi.DecodeCancelOrder, cmds.CancelOrder),
		httpapi.NewCommand("delete-order", httpapi.DecodeDeleteOrder, cmds.DeleteOrder),
	}
	r.Post("/api/commands/:name", table.Run)
}
