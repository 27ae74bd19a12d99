package stage3

import (
	"context"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/workshop"
)

// The keys of stage 3's live figures, which its flows watch (Describe).
const (
	FigureCommandsAccepted = "commands-accepted"
	FigureCommandsApplied  = "commands-applied"
	FigureCommandsBacklog  = "commands-backlog"
	FigureEventsPublished  = "events-published"
	FigureEventsApplied    = "events-applied"
	FigureEventsDuplicate  = "events-duplicate"
	FigureEventsBacklog    = "events-backlog"
	FigureProjectionLag    = "projection-lag"
	FigureReadSideNewest   = "read-side-newest"
	FigureEventsParked     = "events-parked"
	FigureEventsHeld       = "events-held"
	FigureParkedNow        = "events-parked-now"
	FigureHeldNow          = "events-held-now"
	FigureGapRetries       = "gap-retries"
	// The dashboard projector's: the second consumer of the event bus.
	FigureDashboardApplied   = "dashboard-applied"
	FigureDashboardDuplicate = "dashboard-duplicate"
	FigureDashboardBacklog   = "dashboard-backlog"
	FigureDashboardLag       = "dashboard-lag"
	// TotalCommandsRejected is a count no figure shows on its own (the
	// applied commands' detail does) but the command bus's flow watches.
	TotalCommandsRejected = "commands-rejected"
)

// Counts are what stage 3's live figures show: what this process's
// command bus, relay and projector counted, and the bus's backlog.
type Counts struct {
	// Accepted, Applied and Rejected are commands queued on the command
	// bus, and applied or rejected taking them off it.
	Accepted, Applied, Rejected float64
	// Published are events the relay published; Projected, Duplicate,
	// Parked and Held what the projector did with the events it got, and
	// GapRetries how often an event came before its turn.
	Published, Projected, Duplicate, Parked, Held, GapRetries float64
	// LastLag is the last applied event's lag, in seconds; Newest the
	// time of the newest change applied, in Unix seconds (0: none yet).
	LastLag, Newest float64
	// Behind is the projection's lag now: the age in seconds of the oldest
	// event the read database does not have yet, 0 when it has them all.
	// BehindKnown is false when it could not be told.
	Behind      float64
	BehindKnown bool
	// EventsBacklog and CommandsBacklog are the messages not yet delivered
	// to the projector and the command handler, if the bus said.
	EventsBacklog, CommandsBacklog Backlog
	// ParkedNow are the entries parked in the error log now (events and
	// commands), HeldNow the events held behind them; Unpublished the
	// change log's events the relay has not published yet.
	ParkedNow, HeldNow, Unpublished Backlog
	// Holding is what the workshop controls hold back now (all off
	// without them).
	Holding workshop.State
	// Dashboard is what the dashboard projector, the event bus's second
	// consumer, did and how far behind it is.
	Dashboard DashboardCounts
}

// DashboardCounts are the dashboard projector's figures: events applied
// and ignored as duplicates, its lag now (the age of the oldest event the
// dashboard lacks, when known) and its consumer's backlog on the bus.
type DashboardCounts struct {
	Applied, Duplicate float64
	Behind             float64
	BehindKnown        bool
	Backlog            Backlog
}

// Backlog is a topic's backlog, if known.
type Backlog struct {
	Messages float64
	Known    bool
}

// Figures reports stage 3's live figures now. It asks the bus for its
// backlog, within a short timeout.
func (s *Stage) Figures(ctx context.Context) stageview.Figures {
	m := s.projector.metrics
	c := Counts{
		Accepted: s.bus.Counted("accepted"), Applied: s.bus.Counted("applied"), Rejected: s.bus.Counted("rejected"),
		Published: m.published.Value(), Projected: m.applied.Value(), Duplicate: m.duplicate.Value(),
		Parked: m.parked.Value(), Held: m.held.Value(), GapRetries: m.gapRetries.Value(),
		LastLag: m.lastLag.Value(), Newest: m.newest.Value(),
	}
	c.Behind, c.BehindKnown = s.lagNow(ctx)
	pending := backlog(ctx, s.cfg.NATS, append(s.consumers(), s.dashboard.consumer()))
	c.EventsBacklog.Messages, c.EventsBacklog.Known = pending[s.cfg.Namespace+messaging.ProjectorGroup]
	c.CommandsBacklog.Messages, c.CommandsBacklog.Known = pending[s.cfg.Namespace+messaging.CommandHandlerGroup]
	c.Dashboard = s.dashboardCounts(ctx, pending)
	c.ParkedNow, c.HeldNow = errorLogNow(ctx, s.cfg.Read)
	if n, _, err := s.unpublished(ctx); err == nil {
		c.Unpublished = Backlog{Messages: float64(n), Known: true}
	}
	if s.workshop != nil {
		c.Holding = s.workshop.State()
	}
	return s.workshopFigures(c.Figures())
}

// lagWarn is the lag from which the figure asks for attention, and
// readiness reports the read side as degraded: far past a busy projector's.
const lagWarn = 10 * time.Second

// Figures are the live figures of c.
func (c Counts) Figures() stageview.Figures {
	count := func(key, label string, v float64, detail string) stageview.Figure {
		return stageview.Figure{Key: key, Label: label, Kind: stageview.Total, Value: v, Detail: detail}
	}
	backlog := func(key, topic string, b Backlog) stageview.Figure {
		return stageview.Figure{Key: key, Label: "Backlog", Kind: stageview.Level, Value: b.Messages, Absent: !b.Known, Detail: topic}
	}

	accepted := count(FigureCommandsAccepted, "Accepted", c.Accepted, "queued, answered 202")
	if c.Accepted == 0 {
		accepted.Detail = "only in async mode (--command-bus=async)"
	}
	commandBus := stageview.Group{Title: "Command bus", Figures: []stageview.Figure{
		accepted,
		count(FigureCommandsApplied, "Applied", c.Applied, stageview.FormatCount(c.Rejected)+" rejected"),
		backlog(FigureCommandsBacklog, messaging.CommandsTopic, c.CommandsBacklog),
	}}

	eventBus := stageview.Group{Title: "Event bus", Figures: []stageview.Figure{
		count(FigureEventsPublished, "Published", c.Published, "by the relay"),
		count(FigureEventsApplied, "Projected", c.Projected, "applied to the read DB"),
		count(FigureEventsDuplicate, "Duplicates", c.Duplicate, "redeliveries ignored"),
		backlog(FigureEventsBacklog, messaging.EventsTopic, c.EventsBacklog),
	}}

	// The lag is the oldest unapplied event's age, so that a stuck relay
	// or projector shows a growing lag rather than the last one it had.
	lag := stageview.Figure{Key: FigureProjectionLag, Label: "Projection lag", Kind: stageview.Duration, Absent: true, Detail: "not known yet"}
	switch {
	case !c.BehindKnown:
	case c.Behind == 0:
		lag.Absent, lag.Detail = false, "caught up: the read DB has every event"
	default:
		lag.Value, lag.Absent, lag.Detail = c.Behind, false, "oldest event not yet in the read DB"
		lag.Warn = c.Behind >= lagWarn.Seconds()
	}
	newest := stageview.Figure{Key: FigureReadSideNewest, Label: "Newest event", Kind: stageview.Time, Absent: true, Detail: "no event applied yet"}
	if c.Newest > 0 {
		newest.Value, newest.Absent, newest.Detail = c.Newest, false, ""
	}
	readSide := stageview.Group{Title: "Read side", Figures: []stageview.Figure{lag, newest}}

	// Now and since the start apart: only what waits now asks for
	// attention.
	parkedNow := stageview.Figure{Key: FigureParkedNow, Label: "Parked now", Kind: stageview.Level, Value: c.ParkedNow.Messages, Absent: !c.ParkedNow.Known,
		Detail: "none: nothing waits for a replay", Action: stageview.ErrorLog}
	if c.ParkedNow.Messages > 0 {
		parkedNow.Detail, parkedNow.Warn = "in the error log, waiting for a replay", true
	}
	heldNow := stageview.Figure{Key: FigureHeldNow, Label: "Held now", Kind: stageview.Level, Value: c.HeldNow.Messages, Absent: !c.HeldNow.Known,
		Detail: "behind a parked event of their order", Warn: c.HeldNow.Messages > 0}
	errorLog := stageview.Group{Title: "Error log", Figures: []stageview.Figure{
		parkedNow, heldNow,
		count(FigureEventsParked, "Parked since start", c.Parked, "by this process, after their retries"),
		count(FigureEventsHeld, "Held since start", c.Held, "by this process, behind a parked event"),
		count(FigureGapRetries, "Gap retries", c.GapRetries, "arrived before their turn"),
	}}

	return stageview.Figures{
		Groups:  []stageview.Group{commandBus, eventBus, readSide, c.Dashboard.group(), errorLog},
		Totals:  map[string]float64{TotalCommandsRejected: c.Rejected},
		Waiting: c.waiting(),
	}
}

// waiting says what work waits now, and what holds it back where the
// stage knows: the live panel shows it rather than "idle".
func (c Counts) waiting() []string {
	var out []string
	count := stageview.FormatCount
	plural := func(n float64, one, many string) string {
		if n == 1 {
			return count(n) + " " + one
		}
		return count(n) + " " + many
	}
	if b := c.CommandsBacklog; b.Known && b.Messages > 0 {
		w := plural(b.Messages, "command queued", "commands queued")
		if c.Holding.WriteDown {
			w += ", write DB down"
		}
		out = append(out, w)
	}
	if b := c.Unpublished; b.Known && b.Messages > 0 {
		w := plural(b.Messages, "change not published yet", "changes not published yet")
		if c.Holding.RelayPaused {
			w = "relay paused: " + plural(b.Messages, "change not published", "changes not published")
		}
		out = append(out, w)
	}
	if b := c.EventsBacklog; b.Known && b.Messages > 0 {
		w := plural(b.Messages, "event on the bus", "events on the bus")
		switch {
		case c.Holding.ProjectorPaused:
			w += ", projector paused"
		case c.Holding.ProjectorDelay > 0:
			w += ", projector delayed " + strconv.FormatInt(c.Holding.ProjectorDelay.Milliseconds(), 10) + " ms each"
		}
		out = append(out, w)
	} else if c.Holding.ProjectorPaused && c.BehindKnown && c.Behind > 0 {
		out = append(out, "projector paused")
	}
	if b := c.ParkedNow; b.Known && b.Messages > 0 {
		out = append(out, plural(b.Messages, "entry parked in the error log", "entries parked in the error log"))
	}
	return out
}

// errorLogNow counts the entries parked in the error log now, and the
// events held behind them.
func errorLogNow(ctx context.Context, read bun.IDB) (parked, held Backlog) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var rows []struct {
		Status string `bun:"status"`
		N      int64  `bun:"n"`
	}
	err := read.NewSelect().Model((*projection.ErrorEntry)(nil)).ColumnExpr("el.status, COUNT(*) AS n").
		Where("el.status IN (?)", bun.In([]string{projection.StatusParked, projection.StatusHeld})).
		GroupExpr("el.status").Scan(ctx, &rows)
	if err != nil {
		return Backlog{}, Backlog{}
	}
	parked.Known, held.Known = true, true
	for _, r := range rows {
		switch r.Status {
		case projection.StatusParked:
			parked.Messages = float64(r.N)
		case projection.StatusHeld:
			held.Messages = float64(r.N)
		}
	}
	return parked, held
}
