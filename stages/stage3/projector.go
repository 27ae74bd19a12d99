package stage3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// Projector consumes the event bus and applies each event to the read
// database: idempotently (an event at or below the stored version changes
// nothing) and in order per order (a gap is retried, never skipped). An
// event that still fails after its retries is parked in the error log, and
// the later events of its order are held behind it, while other orders go
// on.
type Projector struct {
	write *bun.DB
	read  *bun.DB
	log   *slog.Logger
	// mu lets a rebuild swap the read tables between two events.
	mu      sync.RWMutex
	retries int
	// metrics count the outcomes for /metrics (metrics.go).
	metrics stageMetrics
}

// handle applies one event message.
func (p *Projector) handle(msg *message.Message) error {
	countAttempt(msg)
	e, err := changelog.Unmarshal(msg.Payload)
	if err != nil {
		// A message no version of this code can read: retrying will not
		// help, so it goes straight to the error log.
		return fmt.Errorf("%w: %v", errUnreadable, err)
	}
	ctx := msg.Context()
	p.mu.RLock()
	defer p.mu.RUnlock()
	held, err := projection.Held(ctx, p.read, e.OrderID)
	if err != nil {
		return err
	}
	if held {
		stored, _, err := projection.NewReadModel(p.read).Version(ctx, e.OrderID)
		if err != nil {
			return err
		}
		switch {
		case e.OrderVersion <= stored:
			p.metrics.outcome(projection.OutcomeDuplicate, e)
			return nil
		case e.OrderVersion == stored+1:
			// This event fills the gap its order's parked events wait on:
			// typically a message delivered to an instance that died, which
			// comes back only after the bus's ack wait, when the later
			// events had already given up. Apply it, then the ones behind
			// it, so the order heals without an operator.
			return p.fillGap(ctx, e)
		}
		if err := projection.Hold(ctx, p.read, e, msg.Payload); err != nil {
			return err
		}
		p.log.WarnContext(ctx, "projector: event held behind a parked one", "order", e.OrderID, "version", e.OrderVersion)
		p.metrics.held.Inc()
		return nil
	}
	outcome, err := projection.Apply(ctx, p.read, projection.Live, e)
	if errors.Is(err, projection.ErrGap) {
		// The missing versions may never come as events: the order was
		// changed while another stage was active. Then the database of
		// record's row is the truth to sync from.
		if synced, serr := p.syncFromRecord(ctx, e); serr != nil || !synced {
			p.metrics.gapRetries.Inc()
			return err
		}
		outcome, err = projection.Apply(ctx, p.read, projection.Live, e)
	}
	if err != nil {
		return err
	}
	p.metrics.outcome(outcome, e)
	return nil
}

// fillGap applies the event an order's parked events wait on and replays
// them.
func (p *Projector) fillGap(ctx context.Context, e order.Event) error {
	outcome, err := projection.Apply(ctx, p.read, projection.Live, e)
	if err != nil {
		return err
	}
	p.metrics.outcome(outcome, e)
	id, found, err := projection.Waiting(ctx, p.read, e.OrderID)
	if err != nil || !found {
		return err
	}
	report, err := projection.Replay(ctx, p.read, projection.Live, decodeEnvelope, id, false)
	if err != nil {
		return err
	}
	p.metrics.applied.Add(report.Applied)
	p.log.InfoContext(ctx, "projector: a late event filled a gap; replayed the events parked behind it",
		"order", e.OrderID, "version", e.OrderVersion, "applied", report.Applied, "failed", report.Failed)
	return nil
}

// syncFromRecord brings one order up to the database of record when the
// change log lacks the versions between the read side and e.
func (p *Projector) syncFromRecord(ctx context.Context, e order.Event) (bool, error) {
	history, err := changelog.ForOrder(ctx, p.write, e.OrderID)
	if err != nil {
		return false, err
	}
	// Only a record that has come as far as e can fill the gap before it.
	// An order the record knows at a lower version has a true gap.
	recorded, found, err := recordedVersion(ctx, p.write, e.OrderID, history)
	if err != nil {
		return false, err
	}
	// An order that the change log knows but neither the record nor the
	// read side has was deleted after e (an event is relayed only once
	// committed) before any sync saw it: by a stage that records no events,
	// or by a deletion still on its way. Its missing versions will never come as events, and no sync
	// brings what is gone: a tombstone, which shows nothing, keeps its
	// events no-ops instead of parking them. (An order the read side shows
	// is left alone: hiding it is a sync's decision.)
	stored, _, err := projection.NewReadModel(p.read).Version(ctx, e.OrderID)
	if err != nil {
		return false, err
	}
	if stored == 0 && len(history) > 0 {
		inRecord, err := p.write.NewSelect().Model((*command.Order)(nil)).Where("id = ?", e.OrderID).Exists(ctx)
		if err != nil {
			return false, err
		}
		if !inRecord {
			return true, projection.ReconcileGone(ctx, p.read, projection.Live, e.OrderID, max(recorded, e.OrderVersion), e.OccurredAt)
		}
	}
	if !found || recorded < e.OrderVersion {
		return false, nil
	}
	have := map[int]bool{}
	for _, h := range history {
		have[h.OrderVersion] = true
	}
	for v := stored + 1; v < e.OrderVersion; v++ {
		if !have[v] {
			return true, projection.ReconcileOrder(ctx, p.write, p.read, projection.Live, e.OrderID)
		}
	}
	return false, nil // a true gap: the missing events are on their way
}

var errUnreadable = errors.New("unreadable event")

// errorLog is the poison queue's publisher: a message that failed all its
// retries is parked in the read database's error log instead of a topic.
type errorLog struct {
	read   *bun.DB
	log    *slog.Logger
	parked *metrics.Counter
}

func (l errorLog) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		e, err := park(context.Background(), l.read, m)
		if err != nil {
			return err // the message is nacked and comes again
		}
		l.parked.Inc()
		l.log.Error("projector: event parked in the error log", "order", e.OrderID, "version", e.OrderVersion, "type", e.Type,
			"attempts", attemptsOf(m), "err", m.Metadata.Get(middleware.ReasonForPoisonedKey))
	}
	return nil
}

func (errorLog) Close() error { return nil }

// router builds the Watermill router that runs the projector.
func (p *Projector) router(sub message.Subscriber, topic string, logger watermill.LoggerAdapter) (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, logger)
	if err != nil {
		return nil, err
	}
	// A message whose retries were cut short by shutdown has not failed:
	// it is nacked, to come again, rather than parked.
	poison, err := middleware.PoisonQueueWithFilter(errorLog{read: p.read, log: p.log, parked: p.metrics.parked}, "error-log", func(err error) bool {
		return !errors.Is(err, context.Canceled)
	})
	if err != nil {
		return nil, err
	}
	retry := middleware.Retry{
		MaxRetries:      p.retries,
		InitialInterval: 20 * time.Millisecond,
		MaxInterval:     time.Second,
		Multiplier:      2,
		Logger:          logger,
		ShouldRetry: func(params middleware.RetryParams) bool {
			return !errors.Is(params.Err, errUnreadable)
		},
	}
	r.AddMiddleware(middleware.Recoverer, poison, retry.Middleware)
	r.AddConsumerHandler("projector", topic, sub, p.handle)
	return r, nil
}
