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
	"github.com/staircase/staircase/stages/stage3/projection"
)

// Projector consumes the event bus and applies each event to the read
// database: idempotently (an event at or below the stored version changes
// nothing) and in order per order (a gap is retried, never skipped).
//
// It takes the events one at a time, in the order the bus delivers them,
// but commits them in batches (batch.go): consecutive events share one
// read-database transaction, and their messages are acknowledged to the
// bus once it has committed.
//
// Two operations plug in beside it. The error log (package errorlog)
// wraps its handler and its router: an event that still fails after its
// retries is parked, and the later events of its order are held behind it,
// while other orders go on. A GapFiller (package rebuild) syncs an order
// from the database of record when the versions it lacks will never come
// as events.
type Projector struct {
	read *bun.DB
	log  *slog.Logger
	// mu lets a rebuild swap the read tables, and a replay run, between two
	// events (see exclusive).
	mu sync.RWMutex
	// batch is the open transaction the events are applied in; batches
	// are this one and the dashboard projector's, which the operations
	// commit before they run (exclusive).
	batch   *batch
	batches []*batch
	// rows is what the batch's events write last: their history rows.
	rows *projection.Batch
	// gaps fills a gap no event will fill; nil: every gap is retried.
	gaps GapFiller
	// metrics count the outcomes for /metrics (metrics.go).
	metrics stageMetrics
	// applied, if set, is told of every event applied (changes.go).
	applied func(order.Event)
	// middleware, if any, runs around each event before the error log's
	// (the workshop controls: a delay, a pause).
	middleware []message.HandlerMiddleware
}

// GapFiller brings an order's read side up to just before e from somewhere
// other than the bus, when the change log lacks the versions in between
// (they were changed while stages 0–2 were active), and reports whether it
// did. A true gap — the missing events are on their way — it leaves alone.
type GapFiller interface {
	FillGap(ctx context.Context, e order.Event) (bool, error)
}

// Wrapper is what an operation adds around the projector: middleware for
// its router (outermost first) and a decorator of its handler.
type Wrapper interface {
	Middleware(logger watermill.LoggerAdapter) ([]message.HandlerMiddleware, error)
	Holding(next message.NoPublishHandlerFunc) message.NoPublishHandlerFunc
}

// handle applies one event message, in the open batch.
func (p *Projector) handle(msg *message.Message) error {
	e, err := changelog.Unmarshal(msg.Payload)
	if err != nil {
		return err
	}
	err = p.batch.apply(msg, func(ctx context.Context, tx bun.Tx) (func(), bool, error) {
		outcome, err := p.rows.Apply(ctx, tx, e)
		if err != nil {
			// A gap or a refused event is found before anything is
			// written: the batch's other events can commit.
			return nil, errors.Is(err, projection.ErrGap) || errors.Is(err, projection.ErrRefused), err
		}
		return func() { p.done(outcome, e) }, false, nil
	})
	if !errors.Is(err, projection.ErrGap) {
		return err
	}
	// The batch has committed: the gap is the read database's, and the
	// order can be synced from the database of record without waiting on
	// the batch's transaction.
	return fillGap(msg.Context(), p.gaps, p.log, p.metrics.gapRetries, "projector", e, err, func(ctx context.Context) error {
		outcome, err := projection.Apply(ctx, p.read, projection.Live, e)
		if err != nil {
			return err
		}
		p.done(outcome, e)
		return nil
	})
}

// fillGap goes on with an event that found a gap, once its batch has
// committed: gaps, if any, syncs the order from the database of record
// when no event will fill the gap, and the event is applied again (apply).
// A gap left unfilled is counted in retries and returned, so that the
// event comes again later: a gap is never skipped.
func fillGap(ctx context.Context, gaps GapFiller, log *slog.Logger, retries *metrics.Counter, who string, e order.Event, gap error, apply func(context.Context) error) error {
	filled := false
	if gaps != nil {
		var err error
		if filled, err = gaps.FillGap(ctx, e); err != nil {
			// Said with the gap, so that a parked event tells why.
			log.WarnContext(ctx, who+": syncing an order from the database of record failed", "order", e.OrderID, "err", err)
			return fmt.Errorf("%w (syncing the order from the database of record failed: %v)", gap, err)
		}
	}
	if !filled {
		retries.Inc()
		return gap
	}
	return apply(ctx)
}

// done counts what became of e once it is committed, and tells of the
// change (changes.go).
func (p *Projector) done(outcome projection.Outcome, e order.Event) {
	p.metrics.outcome(outcome, e)
	if outcome == projection.OutcomeApplied && p.applied != nil {
		p.applied(e)
	}
}

// between runs h holding mu for reading: a rebuild's swap or a replay,
// which take it exclusively, run between two events.
func (p *Projector) between(h message.NoPublishHandlerFunc) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		p.mu.RLock()
		defer p.mu.RUnlock()
		return h(msg)
	}
}

// exclusive is the projectors' lock as the operations take it: a rebuild
// swapping the tables in, a replay or a discard from the error log,
// entering the stage. Locked, no event is being applied and the open
// batches have committed, so that the operation's writes neither wait on a
// batch's transaction (SQLite has one writer) nor miss its events.
func (p *Projector) exclusive() *exclusiveLock { return &exclusiveLock{p: p} }

type exclusiveLock struct{ p *Projector }

func (l *exclusiveLock) Lock() {
	l.p.mu.Lock()
	l.p.flush()
}

func (l *exclusiveLock) Unlock()  { l.p.mu.Unlock() }
func (l *exclusiveLock) RLock()   { l.p.mu.RLock() }
func (l *exclusiveLock) RUnlock() { l.p.mu.RUnlock() }

// flush commits the open batches; a batch that fails to commit has its
// events delivered again.
func (p *Projector) flush() {
	for _, b := range p.batches {
		if err := b.flush(); err != nil {
			p.log.Warn("projector: a batch of events could not commit; the bus delivers them again", "err", err)
		}
	}
}

// router builds the Watermill router that runs the projector, with the
// middleware and handler decorator of w (the error log).
func (p *Projector) router(sub message.Subscriber, topic string, w Wrapper, logger watermill.LoggerAdapter) (*message.Router, error) {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, logger)
	if err != nil {
		return nil, err
	}
	mw, err := w.Middleware(logger)
	if err != nil {
		return nil, err
	}
	r.AddMiddleware(middleware.Recoverer)
	r.AddMiddleware(p.middleware...)
	r.AddMiddleware(mw...)
	r.AddConsumerHandler("projector", topic, sub, p.between(w.Holding(p.handle)))
	return r, nil
}
