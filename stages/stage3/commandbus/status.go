package commandbus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

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
	CommandApplied = statusApplied
	// CommandRejected: the command broke the order's rules when it was
	// handled; Err says how.
	CommandRejected = statusRejected
)

// Status is where a command accepted with 202 stands.
type Status struct {
	CommandID string
	OrderID   order.ID // zero while queued
	Type      string   // PlaceOrder, ShipOrder, …; "" while queued
	Status    string   // CommandQueued, CommandApplied or CommandRejected
	Version   int      // applied: the version made; rejected: the order's version then
	Err       error    // rejected: the domain error (*order.Error)
}

// Statuses tell where a queued command stands (Bus.CommandStatus).
type Statuses interface {
	CommandStatus(ctx context.Context, commandID string) (Status, error)
}

// statusBody is the JSON of GET /api/queries/commands/{id}.
type statusBody struct {
	CommandID string           `json:"command_id"`
	OrderID   string           `json:"order_id,omitempty"`
	Type      string           `json:"type,omitempty"`
	Status    string           `json:"status"`
	Version   int              `json:"version,omitempty"`
	Problem   *httpapi.Problem `json:"problem,omitempty"`
}

// StatusRoute mounts GET /api/queries/commands/{id}, the status of a
// command that was answered 202 Accepted (its Location).
func StatusRoute(r fiber.Router, cs Statuses) {
	r.Get(httpapi.CommandStatusPath(":id"), func(c *fiber.Ctx) error {
		st, err := cs.CommandStatus(c.UserContext(), c.Params("id"))
		if err != nil {
			if order.ErrorCode(err) != order.EINTERNAL {
				return err
			}
			slog.WarnContext(c.UserContext(), "command status unavailable", "command", c.Params("id"), "err", err)
			c.Set(fiber.HeaderRetryAfter, "1")
			return fiber.NewError(http.StatusServiceUnavailable, "the command's status cannot be read now: the write database is unreachable. The command stays queued; ask again shortly.")
		}
		body := statusBody{CommandID: st.CommandID, Type: st.Type, Status: st.Status, Version: st.Version}
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

// CommandStatus tells whether a queued command was applied or rejected:
// "queued" while the write database has no record of it. It returns an
// ENOTFOUND error for a malformed ID and another error when the write
// database cannot be read.
func (b *Bus) CommandStatus(ctx context.Context, commandID string) (Status, error) {
	id, err := uuid.Parse(commandID)
	if err != nil {
		return Status{}, order.Errorf(order.ENOTFOUND, "there is no command %q: command IDs are UUIDs", commandID)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var row processedRow
	err = b.write.NewSelect().Model(&row).Where("command_id = ?", id).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Status{CommandID: id.String(), Status: CommandQueued}, nil
	case err != nil:
		return Status{}, fmt.Errorf("read the status of command %s: %w", id, err)
	}
	st := Status{CommandID: id.String(), OrderID: row.OrderID, Type: row.Type, Status: row.Status, Version: row.Version}
	if row.Status == statusRejected {
		st.Err = row.err()
	}
	return st, nil
}

// err rebuilds the domain error a rejected command failed with.
func (r processedRow) err() error {
	e := &order.Error{Code: r.ErrorCode, Message: r.ErrorMessage}
	if r.ErrorCode == order.ECONFLICT && r.Version > 0 {
		// The problem tells the current version, as a sync conflict does.
		e.Current = &order.Order{ID: r.OrderID, Version: r.Version}
	}
	return e
}
