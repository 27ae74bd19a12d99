package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
)

// The codec of the modify APIs (stage 1 on): POST /api/commands/{name},
// whose bodies become commands and whose acks become answers with no
// order in them. Each stage keeps its own table of commands; what a body
// looks like and how an ack is answered is the same in every stage.

// Command is one row of a modify API's table: the command's name in the
// path and how a body becomes the command and the command an ack.
type Command struct {
	// Name is the command's path segment, e.g. "ship-order".
	Name string
	// Creates marks the command that makes a new order: it answers 201
	// Created with the order's key rather than 204.
	Creates bool
	run     func(ctx context.Context, body []byte) (order.Ack, error)
}

// NewCommand returns the row of the command name, read from a body by
// decode and handled by handle.
func NewCommand[C any](name string, decode func(body []byte) (C, error), handle func(context.Context, C) (order.Ack, error)) Command {
	return Command{Name: name, run: func(ctx context.Context, body []byte) (order.Ack, error) {
		cmd, err := decode(body)
		if err != nil {
			return order.Ack{}, err
		}
		return handle(ctx, cmd)
	}}
}

// Creating returns the row marked as the command that makes a new order.
func (c Command) Creating() Command {
	c.Creates = true
	return c
}

// Commands is a modify API's table of commands.
type Commands []Command

// Run is the handler of POST /api/commands/:name: it runs the command the
// path names on the request's body and answers its ack (Answer). An
// unknown name is ENOTFOUND.
func (cs Commands) Run(c *fiber.Ctx) error {
	name := c.Params("name")
	for _, cmd := range cs {
		if cmd.Name != name {
			continue
		}
		ack, err := cmd.run(c.UserContext(), c.Body())
		if err != nil {
			return err
		}
		return Answer(c, ack, cmd.Creates)
	}
	return order.Errorf(order.ENOTFOUND, "there is no command named %q: try %s", name, cs.names())
}

// names lists the commands for a person: "a, b or c".
func (cs Commands) names() string {
	names := make([]string, len(cs))
	for i, cmd := range cs {
		names[i] = cmd.Name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Answer answers a command's ack: 204 No Content with the order's new
// version as a strong ETag, or for a command that creates, 201 Created with
// the new order's key and its Location; when the command was only queued
// (ack.Accepted), 202 Accepted with the order's key and the command's ID,
// and as Location the command's status.
func Answer(c *fiber.Ctx, ack order.Ack, creates bool) error {
	if ack.Accepted {
		return AnswerAccepted(c, ack)
	}
	if creates {
		c.Location("/api/queries/orders/" + ack.ID.String())
		setVersion(c, ack)
		return c.Status(http.StatusCreated).JSON(created{ID: ack.ID.String()})
	}
	setVersion(c, ack)
	return c.SendStatus(http.StatusNoContent)
}

// created is the body of a place-order ack: the key of the new order.
type created struct {
	ID string `json:"id"`
}

// accepted is the body of a 202 Accepted: the order the command is for and
// the command's ID, whose status is at the Location.
type accepted struct {
	ID        string `json:"id"`
	CommandID string `json:"command_id"`
}

// CommandStatusPath is where the status of a queued command is read.
func CommandStatusPath(commandID string) string { return "/api/queries/commands/" + commandID }

// AnswerAccepted answers a queued command: 202 with where to follow it.
func AnswerAccepted(c *fiber.Ctx, ack order.Ack) error {
	c.Location(CommandStatusPath(ack.CommandID))
	return c.Status(http.StatusAccepted).JSON(accepted{ID: ack.ID.String(), CommandID: ack.CommandID})
}

// ETag is the strong entity tag of an order version: "3".
func ETag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// setVersion tells the version the command made, when it is known (a queued
// place-order has none yet).
func setVersion(c *fiber.Ctx, ack order.Ack) {
	if ack.Version > 0 {
		c.Set(fiber.HeaderETag, ETag(ack.Version))
	}
}

// The bodies of the commands other than place-order, which takes
// OrderRequest. ExpectedVersion 0 means whatever the order's version is;
// another stale one is a conflict.
type (
	orderRef struct {
		ID              string `json:"id"`
		ExpectedVersion int    `json:"expected_version"`
	}
	changeLinesRequest struct {
		ID              string `json:"id"`
		Lines           []Line `json:"lines"`
		ExpectedVersion int    `json:"expected_version"`
	}
	cancelRequest struct {
		ID              string `json:"id"`
		Reason          string `json:"reason"`
		ExpectedVersion int    `json:"expected_version"`
	}
)

// DecodePlaceOrder reads the body of place-order (OrderRequest).
func DecodePlaceOrder(body []byte) (order.PlaceOrder, error) {
	var req OrderRequest
	if err := Decode(body, &req); err != nil {
		return order.PlaceOrder{}, err
	}
	return req.PlaceOrder()
}

// DecodeChangeOrderLines reads the body of change-order-lines: id, lines,
// expected_version.
func DecodeChangeOrderLines(body []byte) (order.ChangeOrderLines, error) {
	var req changeLinesRequest
	id, err := decodeRef(body, &req, &req.ID)
	if err != nil {
		return order.ChangeOrderLines{}, err
	}
	return order.ChangeOrderLines{ID: id, Lines: ToLines(req.Lines), ExpectedVersion: req.ExpectedVersion}, nil
}

// DecodeShipOrder reads the body of ship-order: id, expected_version.
func DecodeShipOrder(body []byte) (order.ShipOrder, error) {
	var req orderRef
	id, err := decodeRef(body, &req, &req.ID)
	return order.ShipOrder{ID: id, ExpectedVersion: req.ExpectedVersion}, err
}

// DecodeDeliverOrder reads the body of deliver-order: id,
// expected_version.
func DecodeDeliverOrder(body []byte) (order.DeliverOrder, error) {
	var req orderRef
	id, err := decodeRef(body, &req, &req.ID)
	return order.DeliverOrder{ID: id, ExpectedVersion: req.ExpectedVersion}, err
}

// DecodeCancelOrder reads the body of cancel-order: id, reason,
// expected_version.
func DecodeCancelOrder(body []byte) (order.CancelOrder, error) {
	var req cancelRequest
	id, err := decodeRef(body, &req, &req.ID)
	return order.CancelOrder{ID: id, Reason: req.Reason, ExpectedVersion: req.ExpectedVersion}, err
}

// DecodeDeleteOrder reads the body of delete-order: id, expected_version.
func DecodeDeleteOrder(body []byte) (order.DeleteOrder, error) {
	var req orderRef
	id, err := decodeRef(body, &req, &req.ID)
	return order.DeleteOrder{ID: id, ExpectedVersion: req.ExpectedVersion}, err
}

// decodeRef reads a command body strictly and the order ID it names.
func decodeRef(body []byte, req any, id *string) (order.ID, error) {
	if err := Decode(body, req); err != nil {
		return order.ID{}, err
	}
	return order.ParseID(*id)
}
