package bff

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
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

// Reporter is implemented by a stage that reports live figures about
// itself (stage 3: its buses, projector and error log), for the live panel
// under its diagram. Figures should bound its own wait: it may ask a bus.
type Reporter interface {
	Figures(ctx context.Context) stageview.Figures
}

// ErrorLog is implemented by a stage with an error log — the events its
// projector parked after their retries, and the later events of the same
// orders held behind them — as the admin API and the error log page use
// it. It answers whichever stage is active: the log is one stage's, but an
// operator may look at it anytime.
type ErrorLog interface {
	// ErrorLogEntries lists the entries, oldest first; with status
	// (stageview.EntryParked, …) only those. An unknown status is EINVALID.
	ErrorLogEntries(ctx context.Context, status string) ([]stageview.ErrorEntry, error)
	// ErrorLogEntry returns one entry with its envelope, ENOTFOUND if there
	// is none.
	ErrorLogEntry(ctx context.Context, id int64) (stageview.ErrorEntry, error)
	// ReplayErrorLog applies again the parked and held events of entry
	// id's order (stageview.ReplayAll: of every order in the log), in
	// version order; with dryRun it changes nothing and says what would
	// happen. ENOTFOUND for an unknown entry.
	ReplayErrorLog(ctx context.Context, id int64, dryRun bool) (stageview.ReplayReport, error)
}

// Readier is implemented by a stage that reports how its parts are doing
// (stage 3: its databases, bus, relay and projector), for GET /readyz. It
// should bound its own wait. A stage without it is ready while the
// database answers (Config.Health).
type Readier interface {
	Readiness(ctx context.Context) stageview.Readiness
}

// EventLog is implemented by a stage that records its events in a change
// log (stage 3), for the event viewer and the event catalog. The viewer
// shows the active stage's log; the catalog any stage's, since the events
// are the domain's.
type EventLog interface {
	// Events returns one page of the log, newest first, with where each
	// event is (published, projected, parked) and the state of the log's
	// readers and of the bus. EINVALID for a bad query: an order ID that
	// is no UUID, an unknown type, a bad page size.
	Events(ctx context.Context, q stageview.EventQuery) (stageview.EventPage, error)
	// EventCatalog describes every event type and its schema versions,
	// drawn from the code that encodes and decodes them.
	EventCatalog() stageview.EventCatalog
}

// LagHistory is implemented by a stage whose read side can fall behind,
// for the lag graph: its lag and backlogs over the last few minutes.
type LagHistory interface {
	// LagSamples returns the samples, oldest first; the first call may
	// start the sampling and return none.
	LagSamples(ctx context.Context) []stageview.LagSample
}
