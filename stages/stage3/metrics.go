package stage3

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	watermetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// stageMetrics are what stage 3's workers count, per process. The zero
// value counts nothing (nil metrics do nothing).
type stageMetrics struct {
	published  *metrics.Counter
	applied    *metrics.Counter
	duplicate  *metrics.Counter
	gapRetries *metrics.Counter
	parked     *metrics.Counter
	held       *metrics.Counter
	// lag is every applied event's lag; lastLag the last one's, which the
	// architecture page shows.
	lag     *metrics.Histogram
	lastLag *metrics.Gauge
	newest  *metrics.Gauge
	// behind finds the oldest event not yet projected, for the lag now.
	behind *lagTracker
}

// lagBuckets bound the projection lag's buckets, in seconds: milliseconds
// when the projector keeps up, up to minutes when it is paused or parked
// events wait for a replay.
var lagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

func newStageMetrics(reg *metrics.Registry) stageMetrics {
	return stageMetrics{
		behind: &lagTracker{},
		published: reg.Counter(metrics.RelayPublished,
			"Events this process's relay published from the change log to the event bus (a copy published again after a crash counts again)."),
		applied: reg.Counter(metrics.ProjectorApplied,
			"Events this process's projector applied to the read database."),
		duplicate: reg.Counter(metrics.ProjectorDuplicate,
			"Events this process's projector received at or below the stored version: redeliveries, ignored."),
		gapRetries: reg.Counter(metrics.ProjectorGapRetries,
			"Times this process's projector got an event before its order's previous version and retried it."),
		parked: reg.Counter(metrics.ProjectorParked,
			"Events this process's projector parked in the error log after their retries."),
		held: reg.Counter(metrics.ProjectorHeld,
			"Events this process's projector held behind a parked event of the same order."),
		lag: reg.Histogram(metrics.ProjectionLag,
			"Seconds between an event's change in the database of record and its application to the read database by this process.",
			lagBuckets),
		lastLag: reg.Gauge(metrics.ProjectionLastLag,
			"Seconds between the last event this process applied to the read database and the change it records (now minus its time when applied)."),
		newest: reg.Gauge(metrics.ProjectionNewest,
			"Unix time of the newest change this process applied to the read database: how far the read side is up to date."),
	}
}

// outcome counts what the projector did with e.
func (m stageMetrics) outcome(o projection.Outcome, e order.Event) {
	switch o {
	case projection.OutcomeApplied:
		m.applied.Inc()
		lag := max(0, time.Since(e.OccurredAt).Seconds())
		m.lag.Observe(lag)
		m.lastLag.Set(lag)
		// The newest, not the last: events of different orders may apply
		// out of time order.
		if t := float64(e.OccurredAt.UnixNano()) / 1e9; t > m.newest.Value() {
			m.newest.Set(t)
		}
	case projection.OutcomeDuplicate:
		m.duplicate.Inc()
	}
}

// lagTracker finds the oldest event of the change log that the read
// database does not reflect yet: the projection's lag is its age. A lag
// figured from the events applied would freeze when nothing is applied — a
// stuck relay or projector would look caught up — so it is asked of the
// databases when a figure or a scrape wants it.
//
// It walks the change log in commit order (changelog.Read) from where it
// last found everything applied, and compares each event's version with the
// read database's version of its order (tombstones included); the first
// event ahead of the read side is the oldest not projected. The walk stops
// there, and it goes on from there next time, so a check reads the events
// applied since the last one and little else.
type lagTracker struct {
	mu  sync.Mutex
	pos changelog.Position
	// table is the read table whose versions it compares with (id,
	// version): the order rows' if empty.
	table string
}

// lagBatch is how many events a lag check reads at a time, and lagScan how
// many at most in one check (the first after start-up may have the whole
// log to go through: it goes on at the next check).
const (
	lagBatch = 500
	lagScan  = 50 * lagBatch
)

// oldest returns the time of the oldest event not yet on the read side;
// found is false when the read side has every event (caught up). known is
// false when the check did not get through the events applied since the
// last check (the first check of a long log): then ask again.
func (t *lagTracker) oldest(ctx context.Context, write, read *bun.DB) (at time.Time, found, known bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for scanned := 0; scanned < lagScan; {
		entries, err := changelog.Read(ctx, write, t.pos, lagBatch)
		if err != nil {
			return time.Time{}, false, false, err
		}
		if len(entries) == 0 {
			// On a busy PostgreSQL server Read holds back every event
			// while any older transaction runs (its snapshot's xmin):
			// look at the committed ones anyway, without moving on.
			return t.committedAfter(ctx, write, read)
		}
		scanned += len(entries)
		ids := make([]order.ID, 0, len(entries))
		for _, e := range entries {
			ids = append(ids, e.Event.OrderID)
		}
		have, err := readVersions(ctx, read, t.table, ids)
		if err != nil {
			return time.Time{}, false, false, err
		}
		for _, e := range entries {
			if have[e.Event.OrderID] < e.Event.OrderVersion {
				return e.Event.OccurredAt, true, true, nil
			}
			t.pos = e.Position
		}
	}
	return time.Time{}, false, false, nil
}

// committedAfter finds the oldest event after the tracker's position that
// the read side lacks among the events committed now, whatever their
// commit order: what Read holds back for a while on PostgreSQL.
func (t *lagTracker) committedAfter(ctx context.Context, write, read *bun.DB) (time.Time, bool, bool, error) {
	q := write.NewRaw("SELECT order_id, order_version, occurred_at FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?", t.pos.Seq, lagBatch)
	if sqlstore.DialectName(write) == sqlstore.Postgres {
		q = write.NewRaw("SELECT order_id, order_version, occurred_at FROM change_log"+
			" WHERE (tx_id, seq) > (CAST(? AS xid8), ?) ORDER BY tx_id, seq LIMIT ?", strconv.FormatInt(t.pos.TxID, 10), t.pos.Seq, lagBatch)
	}
	var rows []struct {
		OrderID    order.ID  `bun:"order_id"`
		Version    int       `bun:"order_version"`
		OccurredAt time.Time `bun:"occurred_at"`
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return time.Time{}, false, false, fmt.Errorf("read the change log: %w", err)
	}
	if len(rows) == 0 {
		return time.Time{}, false, true, nil
	}
	ids := make([]order.ID, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.OrderID)
	}
	have, err := readVersions(ctx, read, t.table, ids)
	if err != nil {
		return time.Time{}, false, false, err
	}
	var oldest time.Time
	for _, r := range rows {
		if have[r.OrderID] < r.Version && (oldest.IsZero() || r.OccurredAt.Before(oldest)) {
			oldest = r.OccurredAt
		}
	}
	return oldest, !oldest.IsZero(), true, nil
}

// readVersions returns the read side's version of each of ids it has, in
// table (the order rows if empty).
func readVersions(ctx context.Context, read *bun.DB, table string, ids []order.ID) (map[order.ID]int, error) {
	var rows []struct {
		ID      order.ID `bun:"id"`
		Version int      `bun:"version"`
	}
	if table == "" {
		table = projection.Live.Orders
	}
	if err := read.NewSelect().TableExpr("? AS v", bun.Ident(table)).ColumnExpr("v.id, v.version").
		Where("v.id IN (?)", bun.In(ids)).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	have := make(map[order.ID]int, len(rows))
	for _, r := range rows {
		have[r.ID] = r.Version
	}
	return have, nil
}

// lagNow is the projection's lag now, in seconds: the age of the oldest
// event not yet on the read side, 0 when caught up; ok is false when it is
// not known (the databases did not answer, or the first check is not
// through the log yet).
func (s *Stage) lagNow(ctx context.Context) (seconds float64, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	at, found, known, err := s.projector.metrics.behind.oldest(ctx, s.cfg.Write, s.cfg.Read)
	switch {
	case err != nil || !known:
		return 0, false
	case !found:
		return 0, true
	}
	return max(0, time.Since(at).Seconds()), true
}

// projectionBehind is the gauge of the lag now.
const projectionBehind = metrics.Namespace + "_projection_behind_seconds"

// MeasureLag exposes the projection's lag now on each scrape, in
// Config.Metrics: the age of the oldest event not yet applied to the read
// database, 0 when caught up (the histogram counts the lag of the events
// applied). Without Config.Metrics it does nothing.
func (s *Stage) MeasureLag() {
	s.cfg.Metrics.GaugeVecFunc(projectionBehind,
		"Seconds since the oldest event not yet applied to the read database was recorded; 0 when the read database has every event.",
		nil, func(ctx context.Context) []metrics.Sample {
			if v, ok := s.lagNow(ctx); ok {
				return []metrics.Sample{{Value: v}}
			}
			return nil
		})
}

// MeasureRouters adds Watermill's own Prometheus metrics to the command
// handler's and the projector's routers, in Config.Metrics: how long each
// handler took (staircase_handler_execution_time_seconds, by handler and
// success), how long publishing took and how many messages each subscriber
// received. It is a seam beside the stage's core, like the rest of its
// metrics; call it before Start. Without Config.Metrics it does nothing.
func (s *Stage) MeasureRouters() {
	reg := s.cfg.Metrics.Registerer()
	if reg == nil {
		return
	}
	b := watermetrics.NewPrometheusMetricsBuilder(reg, metrics.Namespace, "")
	for _, r := range []*message.Router{s.bus.Router(), s.router} {
		b.AddPrometheusRouterMetrics(r)
	}
}

// busConsumer is a durable consumer whose backlog /metrics shows.
type busConsumer struct{ topic, group string }

// consumers are the stage's durable consumers: the projector's and the
// command handler's.
func (s *Stage) consumers() []busConsumer {
	return []busConsumer{
		{topic: s.topics.events, group: s.cfg.Namespace + messaging.ProjectorGroup},
		{topic: s.topics.commands, group: s.cfg.Namespace + messaging.CommandHandlerGroup},
	}
}

// backlog asks the bus how many messages of each consumer's topic its
// durable consumer has not been delivered yet, by consumer group; a
// consumer the bus does not answer for (within a short timeout) is left
// out.
func backlog(ctx context.Context, nc *nats.Conn, consumers []busConsumer) map[string]float64 {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out := map[string]float64{}
	for _, c := range consumers {
		// Looking the consumer up fetches its current info.
		con, err := js.Consumer(ctx, messaging.StreamName(c.topic), messaging.ConsumerName(c.group))
		if err != nil {
			continue
		}
		out[c.group] = float64(con.CachedInfo().NumPending)
	}
	return out
}

// registerBacklog exposes, on each scrape, the backlog of each of the
// stage's topics. The bus is asked then rather than polled, so an idle app
// makes no traffic.
func registerBacklog(reg *metrics.Registry, nc *nats.Conn, consumers []busConsumer) {
	reg.GaugeVecFunc(metrics.BusPending,
		"Messages on a bus topic not yet delivered to its durable consumer (shared by every instance).",
		[]string{"topic"}, func(ctx context.Context) []metrics.Sample {
			pending := backlog(ctx, nc, consumers)
			var out []metrics.Sample
			for _, c := range consumers {
				if n, ok := pending[c.group]; ok {
					out = append(out, metrics.Sample{Labels: []string{c.topic}, Value: n})
				}
			}
			return out
		})
}
