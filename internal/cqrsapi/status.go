package cqrsapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// The statuses of a queued command.
const (
	// CommandQueued: the command waits on the command bus (or was never
	// sent: a command ID nobody issued looks the same).
	CommandQueued = "queued"
	// CommandApplied: the command changed the order; Version is the
	// version it made.
	CommandApplied = "applied"
	// CommandRejected: the command broke the order's rules when it was
	// handled; Err says how.
	CommandRejected = "rejected"
)

// CommandStatus is where a command accepted with 202 stands.
type CommandStatus struct {
	CommandID string
	OrderID   order.ID // zero while queued
	Type      string   // PlaceOrder, ShipOrder, …; "" while queued
	Status    string   // CommandQueued, CommandApplied or CommandRejected
	Version   int      // applied: the version made; rejected: the order's version then
	Err       error    // rejected: the domain error (*order.Error)
}

// CommandStatuses is implemented by a stage whose commands may be queued
// (stage 3 with its command bus). CommandStatus returns an ENOTFOUND error
// for a malformed ID and any other error when the status cannot be read
// now (the write database is down).
type CommandStatuses interface {
	CommandStatus(ctx context.Context, commandID string) (CommandStatus, error)
}

// commandStatusBody is the JSON of GET /api/queries/commands/{id}.
type commandStatusBody struct {
	CommandID string           `json:"command_id"`
	OrderID   string           `json:"order_id,omitempty"`
	Type      string           `json:"type,omitempty"`
	Status    string           `json:"status"`
	Version   int              `json:"version,omitempty"`
	Problem   *httpapi.Problem `json:"problem,omitempty"`
}

// CommandStatusRoute mounts GET /api/queries/commands/{id}, the status of
// a command that was answered 202 Accepted (its Location).
func CommandStatusRoute(r fiber.Router, cs CommandStatuses) {
	r.Get("/api/queries/commands/:id", func(c *fiber.Ctx) error {
		st, err := cs.CommandStatus(c.UserContext(), c.Params("id"))
		if err != nil {
			if order.ErrorCode(err) != order.EINTERNAL {
				return err
			}
			slog.WarnContext(c.UserContext(), "command status unavailable", "command", c.Params("id"), "err", err)
			c.Set(fiber.HeaderRetryAfter, "1")
			return fiber.NewError(http.StatusServiceUnavailable, "the command's status cannot be read now: the write database is unreachable. The command stays queued; ask again shortly.")
		}
		body := commandStatusBody{CommandID: st.CommandID, Type: st.Type, Status: st.Status, Version: st.Version}
		if st.OrderID != (order.ID{}) {
			body.OrderID = st.OrderID.String()
		}
		if st.Err != nil {
			p := httpapi.ProblemFor(st.Err)
			body.Problem = &p
		}
		if st.Status == CommandQueued {
			// Pollers must not be served a stale "queued".
			c.Set(fiber.HeaderCacheControl, "no-store")
		}
		return c.JSON(body)
	})
}

// accepted is the body of a 202 Accepted: the order the command is for and
// the command's ID, whose status is at the Location.
type accepted struct {
	ID        string `json:"id"`
	CommandID string `json:"command_id"`
}

// CommandStatusPath is where the status of a queued command is read.
func CommandStatusPath(commandID string) string { return "/api/queries/commands/" + commandID }

// answerAccepted answers a queued command: 202 with where to follow it.
func answerAccepted(c *fiber.Ctx, ack order.Ack) error {
	c.Location(CommandStatusPath(ack.CommandID))
	return c.Status(http.StatusAccepted).JSON(accepted{ID: ack.ID.String(), CommandID: ack.CommandID})
}
