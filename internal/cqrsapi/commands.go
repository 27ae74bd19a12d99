package cqrsapi

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// CommandRoutes mounts the modify API: POST /api/commands/{name}, one name
// per command. A command answers 204 No Content (201 Created with the new
// order's key for place-order) with the order's new version as a strong
// ETag, or a problem; or, when it was only queued, 202 Accepted with the
// order's key and the command's ID, and as Location the command's status
// (GET /api/queries/commands/{id}).
func CommandRoutes(r fiber.Router, cmds Commands) {
	r.Post("/api/commands/:name", func(c *fiber.Ctx) error { return command(c, cmds) })
}

// ETag is the strong entity tag of an order version: "3".
func ETag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// The bodies of the commands other than place-order, which takes
// httpapi.OrderRequest. ExpectedVersion 0 means whatever the order's
// version is; another stale one is a conflict.
type (
	orderRequest struct {
		ID              string `json:"id"`
		ExpectedVersion int    `json:"expected_version"`
	}
	changeLinesRequest struct {
		ID              string         `json:"id"`
		Lines           []httpapi.Line `json:"lines"`
		ExpectedVersion int            `json:"expected_version"`
	}
	cancelRequest struct {
		ID              string `json:"id"`
		Reason          string `json:"reason"`
		ExpectedVersion int    `json:"expected_version"`
	}
)

// created is the body of a place-order ack: the key of the new order.
type created struct {
	ID string `json:"id"`
}

func command(c *fiber.Ctx, cmds Commands) error {
	ctx, body := c.UserContext(), c.Body()
	var ack order.Ack
	switch name := c.Params("name"); name {
	case "place-order":
		var req httpapi.OrderRequest
		if err := httpapi.Decode(body, &req); err != nil {
			return err
		}
		cmd, err := req.PlaceOrder()
		if err != nil {
			return err
		}
		if ack, err = cmds.PlaceOrder(ctx, cmd); err != nil {
			return err
		}
		if ack.Accepted {
			return answerAccepted(c, ack)
		}
		c.Location("/api/queries/orders/" + ack.ID.String())
		setVersion(c, ack)
		return c.Status(http.StatusCreated).JSON(created{ID: ack.ID.String()})
	case "change-order-lines":
		var req changeLinesRequest
		id, err := decode(body, &req, &req.ID)
		if err != nil {
			return err
		}
		ack, err = cmds.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: id, Lines: httpapi.ToLines(req.Lines), ExpectedVersion: req.ExpectedVersion})
		if err != nil {
			return err
		}
	case "ship-order":
		var req orderRequest
		id, err := decode(body, &req, &req.ID)
		if err != nil {
			return err
		}
		if ack, err = cmds.ShipOrder(ctx, order.ShipOrder{ID: id, ExpectedVersion: req.ExpectedVersion}); err != nil {
			return err
		}
	case "deliver-order":
		var req orderRequest
		id, err := decode(body, &req, &req.ID)
		if err != nil {
			return err
		}
		if ack, err = cmds.DeliverOrder(ctx, order.DeliverOrder{ID: id, ExpectedVersion: req.ExpectedVersion}); err != nil {
			return err
		}
	case "cancel-order":
		var req cancelRequest
		id, err := decode(body, &req, &req.ID)
		if err != nil {
			return err
		}
		if ack, err = cmds.CancelOrder(ctx, order.CancelOrder{ID: id, Reason: req.Reason, ExpectedVersion: req.ExpectedVersion}); err != nil {
			return err
		}
	case "delete-order":
		var req orderRequest
		id, err := decode(body, &req, &req.ID)
		if err != nil {
			return err
		}
		if ack, err = cmds.DeleteOrder(ctx, order.DeleteOrder{ID: id, ExpectedVersion: req.ExpectedVersion}); err != nil {
			return err
		}
	default:
		return order.Errorf(order.ENOTFOUND, "there is no command named %q: try place-order, change-order-lines, ship-order, deliver-order, cancel-order or delete-order", name)
	}
	if ack.Accepted {
		return answerAccepted(c, ack)
	}
	setVersion(c, ack)
	return c.SendStatus(http.StatusNoContent)
}

// decode reads a command body strictly and the order ID it names.
func decode(body []byte, req any, id *string) (order.ID, error) {
	if err := httpapi.Decode(body, req); err != nil {
		return order.ID{}, err
	}
	return order.ParseID(*id)
}

// setVersion tells the version the command made, when it is known (a queued
// place-order has none yet).
func setVersion(c *fiber.Ctx, ack order.Ack) {
	if ack.Version > 0 {
		c.Set(fiber.HeaderETag, ETag(ack.Version))
	}
}
