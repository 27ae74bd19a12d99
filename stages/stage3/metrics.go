package stage3

import (
	"context"
	"time"

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
	lag        *metrics.Gauge
	newest     *metrics.Gauge
}

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
		lag: reg.Gauge(metrics.ProjectionLag,
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
		m.lag.Set(max(0, time.Since(e.OccurredAt).Seconds()))
		// The newest, not the last: events of different orders may apply
		// out of time order.
		if t := float64(e.OccurredAt.UnixNano()) / 1e9; t > m.newest.Value() {
			m.newest.Set(t)
		}
	case projection.OutcomeDuplicate:
		m.duplicate.Inc()
	}
}

// busConsumer is a durable consumer whose backlog /metrics shows.
type busConsumer struct{ topic, group string }

// registerBacklog exposes, on each scrape, how many messages of each of
// the stage's topics its durable consumer has not been delivered yet. The
// bus is asked then (bounded by a short timeout) rather than polled, so an
// idle app makes no traffic; a topic the bus does not answer for is left
// out of the scrape.
func registerBacklog(reg *metrics.Registry, nc *nats.Conn, consumers []busConsumer) {
	if reg == nil {
		return
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	reg.GaugeVecFunc(metrics.BusPending,
		"Messages on a bus topic not yet delivered to its durable consumer (shared by every instance).",
		[]string{"topic"}, func(ctx context.Context) []metrics.Sample {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var out []metrics.Sample
			for _, c := range consumers {
				// Looking the consumer up fetches its current info.
				con, err := js.Consumer(ctx, messaging.StreamName(c.topic), messaging.ConsumerName(c.group))
				if err != nil {
					continue
				}
				out = append(out, metrics.Sample{Labels: []string{c.topic}, Value: float64(con.CachedInfo().NumPending)})
			}
			return out
		})
}
