package stage3

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/rebuild"
)

// DashboardGroup is the dashboard projector's durable consumer of the event
// bus: a second consumer of the same events beside the projector's
// (messaging.ProjectorGroup), so that each gets every event — the bus fans
// out — and each goes at its own pace.
const DashboardGroup = "dashboard-projector"

// DashboardProjector is the second consumer of the event bus: it keeps the
// dashboard projection (projection.ApplyDashboard) — the orders per status,
// the revenue and the customers ranked, changed by each event's delta —
// so that the dashboard reads a few rows instead of adding up every order.
// It is idempotent and in order per order by version, like the projector;
// a gap is filled from the change log, or from the database of record for
// versions written without events (rebuild.DashboardSyncer), or retried.
// It runs in the projector's router, behind the same middleware: an event
// that keeps failing is parked in the error log. Like the projector, it
// commits its events in batches (batch.go), and the figures once per batch.
type DashboardProjector struct {
	read    *bun.DB
	log     *slog.Logger
	sub     *messaging.Subscriber
	topic   string
	group   string
	gaps    GapFiller
	metrics dashboardMetrics
	// batch is the open transaction; figures what its events change in
	// the figures, written just before it commits.
	batch   *batch
	figures *projection.DashboardBatch
}

// dashboardMetrics are what the dashboard projector counts.
type dashboardMetrics struct {
	applied, duplicate, gapRetries *metrics.Counter
	behind                         *lagTracker
}

// newDashboardProjector makes the dashboard projector's subscriber, on its
// own durable consumer (made by the subscriber before it binds, so that it
// outlives the process: after a restart only new events come).
func newDashboardProjector(cfg Config, subCfg messaging.SubscriberConfig) (*DashboardProjector, error) {
	subCfg.ConsumerGroup = cfg.Namespace + DashboardGroup
	subCfg.Consumer.Description = "stage 3 dashboard projector"
	sub, err := messaging.NewSubscriber(cfg.NATS, subCfg)
	if err != nil {
		return nil, err
	}
	reg := cfg.Metrics
	return &DashboardProjector{
		read: cfg.Read, log: cfg.Logger.With("component", "dashboard-projector"), sub: sub, group: subCfg.ConsumerGroup,
		gaps: rebuild.DashboardSyncer{Write: cfg.Write, Read: cfg.Read},
		metrics: dashboardMetrics{
			applied: reg.Counter(metrics.Namespace+"_dashboard_events_applied_total",
				"Events this process's dashboard projector applied to the dashboard's figures."),
			duplicate: reg.Counter(metrics.Namespace+"_dashboard_events_duplicate_total",
				"Events this process's dashboard projector received at or below the stored version: redeliveries, ignored."),
			gapRetries: reg.Counter(metrics.Namespace+"_dashboard_gap_retries_total",
				"Times this process's dashboard projector got an event before its order's previous version and retried it."),
			behind: &lagTracker{table: projection.DashboardLive.Orders},
		},
	}, nil
}

// handle applies one event message to the dashboard, in the open batch.
func (d *DashboardProjector) handle(msg *message.Message) error {
	e, err := changelog.Unmarshal(msg.Payload)
	if err != nil {
		return err
	}
	err = d.batch.apply(msg, func(ctx context.Context, tx bun.Tx) (func(), bool, error) {
		outcome, err := d.figures.Apply(ctx, tx, e)
		if err != nil {
			return nil, errors.Is(err, projection.ErrGap) || errors.Is(err, projection.ErrRefused), err
		}
		return func() { d.done(outcome) }, false, nil
	})
	if !errors.Is(err, projection.ErrGap) {
		return err
	}
	// The batch has committed: fill the gap beside it.
	return fillGap(msg.Context(), d.gaps, d.log, d.metrics.gapRetries, "dashboard projector", e, err, func(ctx context.Context) error {
		outcome, err := projection.ApplyDashboard(ctx, d.read, projection.DashboardLive, e)
		if err != nil {
			return err
		}
		d.done(outcome)
		return nil
	})
}

// done counts what became of an event once it is committed.
func (d *DashboardProjector) done(outcome projection.Outcome) {
	switch outcome {
	case projection.OutcomeApplied:
		d.metrics.applied.Inc()
	case projection.OutcomeDuplicate:
		d.metrics.duplicate.Inc()
	}
}

// consumer is the dashboard projector's durable consumer, for the backlog.
func (d *DashboardProjector) consumer() busConsumer {
	return busConsumer{topic: d.topic, group: d.group}
}

// addDashboard adds the dashboard projector to the projector's router, as
// a handler of its own on its own subscriber, and its backlog to /metrics.
func (s *Stage) addDashboard(subCfg messaging.SubscriberConfig) error {
	d, err := newDashboardProjector(s.cfg, subCfg)
	if err != nil {
		return err
	}
	d.topic = s.topics.events
	// On SQLite, with its one writer, the dashboard's events share the
	// projector's batch: one transaction and one commit for both (batch.go).
	d.batch = s.projector.batch
	if !shared(s.cfg.Read) {
		d.batch = newBatch(s.cfg.Read, d.log)
		s.projector.batches = append(s.projector.batches, d.batch)
	}
	d.figures = projection.NewDashboardBatch(projection.DashboardLive)
	d.batch.beforeCommit(func(ctx context.Context, tx bun.Tx) error { return d.figures.Write(ctx, tx) }, d.figures.Discard)
	s.dashboard = d
	s.router.AddConsumerHandler(DashboardGroup, d.topic, d.sub, s.projector.between(d.handle))
	registerDashboardBacklog(s.cfg.Metrics, s.cfg.NATS, d.consumer())
	return nil
}

// registerDashboardBacklog exposes the dashboard consumer's backlog on
// each scrape.
func registerDashboardBacklog(reg *metrics.Registry, nc *nats.Conn, c busConsumer) {
	reg.GaugeVecFunc(metrics.Namespace+"_dashboard_pending_messages",
		"Events on the event bus not yet delivered to the dashboard projector's durable consumer (shared by every instance).",
		nil, func(ctx context.Context) []metrics.Sample {
			if n, ok := backlog(ctx, nc, []busConsumer{c})[c.group]; ok {
				return []metrics.Sample{{Value: n}}
			}
			return nil
		})
}

// dashboardCounts are the dashboard projector's figures now; pending is
// the bus's backlog by consumer group.
func (s *Stage) dashboardCounts(ctx context.Context, pending map[string]float64) DashboardCounts {
	m := s.dashboard.metrics
	c := DashboardCounts{Applied: m.applied.Value(), Duplicate: m.duplicate.Value()}
	c.Backlog.Messages, c.Backlog.Known = pending[s.dashboard.group]
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	at, found, known, err := m.behind.oldest(ctx, s.cfg.Write, s.cfg.Read)
	switch {
	case err != nil || !known:
	case !found:
		c.BehindKnown = true
	default:
		c.Behind, c.BehindKnown = max(0, time.Since(at).Seconds()), true
	}
	return c
}

// group is the figures of the dashboard projector.
func (c DashboardCounts) group() stageview.Group {
	lag := stageview.Figure{Key: FigureDashboardLag, Label: "Lag", Kind: stageview.Duration, Absent: true, Detail: "not known yet"}
	switch {
	case !c.BehindKnown:
	case c.Behind == 0:
		lag.Absent, lag.Detail = false, "caught up"
	default:
		lag.Value, lag.Absent, lag.Detail = c.Behind, false, "oldest event not yet on the dashboard"
		lag.Warn = c.Behind >= lagWarn.Seconds()
	}
	return stageview.Group{Title: "Dashboard projector", Figures: []stageview.Figure{
		{Key: FigureDashboardApplied, Label: "Applied", Kind: stageview.Total, Value: c.Applied, Detail: "2nd consumer of the event bus"},
		{Key: FigureDashboardDuplicate, Label: "Duplicates", Kind: stageview.Total, Value: c.Duplicate, Detail: "redeliveries ignored"},
		{Key: FigureDashboardBacklog, Label: "Backlog", Kind: stageview.Level, Value: c.Backlog.Messages, Absent: !c.Backlog.Known, Detail: DashboardGroup},
		lag,
	}}
}

// RebuildDashboard rebuilds the dashboard projection alone from the change
// log (rebuild.RebuildDashboard), between two of the consumers' events.
func (s *Stage) RebuildDashboard(ctx context.Context) (rebuild.DashboardReport, error) {
	return rebuild.RebuildDashboard(ctx, s.cfg.Write, s.cfg.Read, s.projector.exclusive(), nil)
}
