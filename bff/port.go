package bff

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
)

// Commands is the command side of a stage, as the BFF uses it: each call
// changes one order and acknowledges with the order's new version, or fails
// with a domain error (order.Error codes).
type Commands interface {
	PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error)
	ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error)
	ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error)
	DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error)
	CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error)
	DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error)
}

// Queries is the query side of a stage: reads that change nothing and say
// where they read from. OrderDetail returns an ENOTFOUND error for an
// unknown order; OrderSummaries an EINVALID one for a bad query.
type Queries interface {
	OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error)
	OrderDetail(ctx context.Context, id order.ID) (order.Detail, error)
	Dashboard(ctx context.Context) (order.Dashboard, error)
}

// Stage is one stage of the staircase as the BFF sees it: its command and
// query sides, and its own JSON API, which the BFF mounts while the stage
// is active.
type Stage interface {
	Commands
	Queries
	// Routes registers the stage's JSON API on r. Handlers return errors;
	// the BFF renders them as problem JSON.
	Routes(r fiber.Router)
}

// Enterer is implemented by a stage that must prepare before it becomes
// active (stage 3 brings its read database up to date). Enter reports
// progress as it goes and returns when the stage can serve.
type Enterer interface {
	Enter(ctx context.Context, progress func(done, total int64)) error
}
