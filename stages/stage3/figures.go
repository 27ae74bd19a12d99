package stage3

import (
	"context"
	"time"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/stageview"
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
	return c.Figures()
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
		accepted.Detail = "only with --command-bus=async"
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

	parked := count(FigureEventsParked, "Parked", c.Parked, "after their retries")
	parked.Action, parked.Warn = stageview.ErrorLog, c.Parked > 0
	held := count(FigureEventsHeld, "Held", c.Held, "behind a parked event")
	held.Warn = c.Held > 0
	errorLog := stageview.Group{Title: "Error log", Figures: []stageview.Figure{
		parked, held, count(FigureGapRetries, "Gap retries", c.GapRetries, "arrived before their turn"),
	}}

	return stageview.Figures{
		Groups: []stageview.Group{commandBus, eventBus, readSide, c.Dashboard.group(), errorLog},
		Totals: map[string]float64{TotalCommandsRejected: c.Rejected},
	}
}
