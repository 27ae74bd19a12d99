package stage3

import (
	"context"
	"time"

	watermetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
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
}

// lagBuckets bound the projection lag's buckets, in seconds: milliseconds
// when the projector keeps up, up to minutes when it is paused or parked
// events wait for a replay.
var lagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

func newStageMetrics(reg *metrics.Registry) stageMetrics {
	return stageMetrics{
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
// durable consumer has not been delivered yet, by topic; a topic the bus
// does not answer for (within a short timeout) is left out.
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
		out[c.topic] = float64(con.CachedInfo().NumPending)
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
				if n, ok := pending[c.topic]; ok {
					out = append(out, metrics.Sample{Labels: []string{c.topic}, Value: n})
				}
			}
			return out
		})
}
