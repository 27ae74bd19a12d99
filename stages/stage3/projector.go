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

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
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
	mu sync.RWMutex
	// applied is called after each event that changed the read side.
	applied func(e order.Event)
	retries int
}

// handle applies one event message.
func (p *Projector) handle(msg *message.Message) error {
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
		if err := projection.Hold(ctx, p.read, e, msg.Payload); err != nil {
			return err
		}
		p.log.WarnContext(ctx, "projector: event held behind a parked one", "order", e.OrderID, "version", e.OrderVersion)
		return nil
	}
	outcome, err := projection.Apply(ctx, p.read, projection.Live, e)
	if errors.Is(err, projection.ErrGap) {
		// The missing versions may never come as events: the order was
		// changed while another stage was active. Then the database of
		// record's row is the truth to sync from.
		if synced, serr := p.syncFromRecord(ctx, e); serr != nil || !synced {
			return err
		}
		outcome, err = projection.Apply(ctx, p.read, projection.Live, e)
	}
	if err != nil {
		return err
	}
	if outcome == projection.OutcomeApplied && p.applied != nil {
		p.applied(e)
	}
	return nil
}

// syncFromRecord brings one order up to the database of record when the
// change log lacks the versions between the read side and e.
func (p *Projector) syncFromRecord(ctx context.Context, e order.Event) (bool, error) {
	history, err := changelog.ForOrder(ctx, p.write, e.OrderID)
	if err != nil {
		return false, err
	}
	have := map[int]bool{}
	for _, h := range history {
		have[h.OrderVersion] = true
	}
	stored, _, err := projection.NewReadModel(p.read).Version(ctx, e.OrderID)
	if err != nil {
		return false, err
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
	read *bun.DB
	log  *slog.Logger
}

func (l errorLog) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		ctx := context.Background()
		e, err := changelog.Unmarshal(m.Payload)
		if err != nil {
			l.log.Error("projector: unreadable event cannot be parked", "message", m.UUID, "err", err)
			continue
		}
		cause := errors.New(m.Metadata.Get(middleware.ReasonForPoisonedKey))
		if err := projection.Park(ctx, l.read, e, m.Payload, cause, 0); err != nil {
			return err
		}
		l.log.Error("projector: event parked in the error log", "order", e.OrderID, "version", e.OrderVersion, "type", e.Type, "err", cause)
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
	poison, err := middleware.PoisonQueue(errorLog{read: p.read, log: p.log}, "error-log")
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
