package errorlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/commandbus"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// Projector is the error log as the projector's router uses it: Watermill's
// Retry and PoisonQueue middleware (Middleware), which park an event that
// still fails after its retries, and a decorator of the projector's handler
// (Holding), which holds an order's later events behind its parked one.
type Projector struct {
	// Read is the read database, which keeps the error log.
	Read *bun.DB
	// Retries is how often an event is retried before it is parked.
	Retries int
	Log     *slog.Logger
	// Hooks count what the error log did, for the projector's metrics.
	Hooks Hooks
	// Commit, if set, commits the events the projector has applied and
	// not committed yet (its open batch): Holding calls it before it reads
	// the read side for an order with parked events, or writes beside the
	// projector, so that it sees every event applied so far and waits on no
	// open transaction.
	Commit func() error
	// Clear, if set, asks a question about the read database in the
	// projector's open batch, once per batch (see Holding): it runs q in
	// the batch's transaction, beginning one if none is open, and keeps
	// its answer until that transaction ends.
	Clear func(ctx context.Context, q func(ctx context.Context, db bun.IDB) (bool, error)) (bool, error)
}

// Hooks are called with what the error log did with an event; nil ones are
// not called.
type Hooks struct {
	// Parked: an event was parked after its retries.
	Parked func()
	// Held: an event was held behind a parked one of its order.
	Held func()
	// Duplicate: an event of an order with parked events was one the read
	// side has already.
	Duplicate func(order.Event)
	// Replayed: events held behind a gap were applied once a late event
	// filled it.
	Replayed func(applied int)
}

// errUnreadable marks a message no version of this code can read:
// retrying will not help, so it goes straight to the error log.
var errUnreadable = errors.New("unreadable event")

// Middleware returns Watermill's PoisonQueue, publishing to the error log,
// and Retry, to add to the projector's router in this order (outermost
// first). A message whose retries were cut short by shutdown has not
// failed: it is nacked, to come again, rather than parked.
func (p Projector) Middleware(logger watermill.LoggerAdapter) ([]message.HandlerMiddleware, error) {
	poison, err := middleware.PoisonQueueWithFilter(poisonQueue{p}, "error-log", func(err error) bool {
		return !errors.Is(err, context.Canceled)
	})
	if err != nil {
		return nil, err
	}
	retry := middleware.Retry{
		MaxRetries:      p.Retries,
		InitialInterval: 20 * time.Millisecond,
		MaxInterval:     time.Second,
		Multiplier:      2,
		Logger:          logger,
		ShouldRetry: func(params middleware.RetryParams) bool {
			return !errors.Is(params.Err, errUnreadable)
		},
	}
	return []message.HandlerMiddleware{poison, retry.Middleware}, nil
}

// Holding decorates the projector's handler, which applies one event: an
// event of an order with parked or held events in the error log is held
// behind them rather than applied, so that the order's events stay in
// order — unless it is one the read side has (a duplicate, dropped) or the
// very one they wait on. That one, typically a message delivered to an
// instance that died, which comes back only after the bus's ack wait when
// the later events had already given up, is applied through next and the
// events held behind it are replayed, so that the order heals without an
// operator. It counts the attempts at each message, for the entry.
func (p Projector) Holding(next message.NoPublishHandlerFunc) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		countAttempt(msg)
		e, err := changelog.Unmarshal(msg.Payload)
		if err != nil {
			return fmt.Errorf("%w: %v", errUnreadable, err)
		}
		ctx := msg.Context()
		held, err := p.held(ctx, e)
		if err != nil || !held {
			if err != nil {
				return err
			}
			return next(msg)
		}
		if err := p.commit(); err != nil {
			return err
		}
		stored, _, err := projection.NewReadModel(p.Read).Version(ctx, e.OrderID)
		if err != nil {
			return err
		}
		switch {
		case e.OrderVersion <= stored:
			call(p.Hooks.Duplicate, e)
			return nil
		case e.OrderVersion == stored+1:
			if err := next(msg); err != nil {
				return err
			}
			if err := p.commit(); err != nil {
				return err
			}
			return p.replayBehind(ctx, e)
		}
		if err := projection.Hold(ctx, p.Read, e, msg.Payload); err != nil {
			return err
		}
		p.Log.WarnContext(ctx, "projector: event held behind a parked one", "order", e.OrderID, "version", e.OrderVersion)
		call0(p.Hooks.Held)
		return nil
	}
}

// held reports whether e's order has events parked or held in the error
// log. Asking the error log about every event's order would cost a query
// per event, about as much as applying it; but the error log is nearly
// always empty, so Holding first asks, once per batch of the projector,
// whether it holds any event at all (Clear), and asks about the order only
// if it does.
//
// An answer kept for a whole batch may be stale: another process (or the
// relay) may park an event while the batch is open. That cannot put an
// order's events out of order, because holding is not what keeps them in
// order — the version check is. An event parked is one the read side lacks
// (it failed to apply), so every later event of its order finds a gap,
// which commits the batch and is retried: the retry asks afresh, in a new
// batch, and holds the event. What a stale answer can miss is the heal: the
// very event the parked ones wait on is then applied like any other, and
// its held events are not replayed at once. The per-order check had the
// same window, between its query and the batch's commit (the parked event
// of another process may see a gap only because this batch has not
// committed yet); the batch's answer is no older than the batch, at most
// batchMaxAge. On SQLite the answer is exact: the batch's transaction
// holds the database's only write lock from its start, so no one can park
// an event while it is open. Whatever this process writes to the error log
// commits the open batch first (commit), which forgets the answer.
func (p Projector) held(ctx context.Context, e order.Event) (bool, error) {
	if p.Clear != nil {
		clear, err := p.Clear(ctx, projection.NoneHeld)
		if err != nil || clear {
			return false, err
		}
	}
	return projection.Held(ctx, p.Read, e.OrderID)
}

// commit commits the projector's open batch, if it has one.
func (p Projector) commit() error {
	if p.Commit == nil {
		return nil
	}
	return p.Commit()
}

// replayBehind replays the events parked behind e, which filled their gap.
func (p Projector) replayBehind(ctx context.Context, e order.Event) error {
	id, found, err := projection.Waiting(ctx, p.Read, e.OrderID)
	if err != nil || !found {
		return err
	}
	report, err := projection.Replay(ctx, p.Read, projection.Live, decode, id, false)
	if err != nil {
		return err
	}
	if p.Hooks.Replayed != nil {
		p.Hooks.Replayed(report.Applied)
	}
	p.Log.InfoContext(ctx, "projector: a late event filled a gap; replayed the events parked behind it",
		"order", e.OrderID, "version", e.OrderVersion, "applied", report.Applied, "failed", report.Failed)
	return nil
}

func call(f func(order.Event), e order.Event) {
	if f != nil {
		f(e)
	}
}

func call0(f func()) {
	if f != nil {
		f()
	}
}

// poisonQueue is the PoisonQueue's publisher: a message that failed all
// its retries is parked in the read database's error log instead of a
// topic.
type poisonQueue struct{ p Projector }

func (q poisonQueue) Publish(_ string, msgs ...*message.Message) error {
	// The open batch commits first: on SQLite it holds the only write
	// lock, and the batch's answer to Clear goes with it.
	if err := q.p.commit(); err != nil {
		return err
	}
	for _, m := range msgs {
		e, err := park(context.Background(), q.p.Read, m)
		if err != nil {
			return err // the message is nacked and comes again
		}
		call0(q.p.Hooks.Parked)
		q.p.Log.Error("projector: event parked in the error log", "order", e.OrderID, "version", e.OrderVersion, "type", e.Type,
			"attempts", attemptsOf(m), "err", m.Metadata.Get(middleware.ReasonForPoisonedKey))
	}
	return nil
}

func (poisonQueue) Close() error { return nil }

// metaAttempts counts, on the message in hand, how often the projector
// tried it: the Retry middleware hands the same message to each attempt,
// so the count is the real one when the message is parked.
const metaAttempts = "projector_attempts"

// countAttempt records one more attempt at m.
func countAttempt(m *message.Message) {
	n, _ := strconv.Atoi(m.Metadata.Get(metaAttempts))
	m.Metadata.Set(metaAttempts, strconv.Itoa(n+1))
}

// attemptsOf is how often m was tried (at least once: it is being parked).
func attemptsOf(m *message.Message) int {
	n, _ := strconv.Atoi(m.Metadata.Get(metaAttempts))
	return max(n, 1)
}

// park puts a message that failed all its attempts in the error log. One
// that cannot be read as an event (a schema version this code does not
// know, a broken envelope) is parked too — raw, under the order, version
// and type its metadata names — since nothing accepted may be lost, and it
// holds its order's later events as any parked event does.
func park(ctx context.Context, read bun.IDB, m *message.Message) (order.Event, error) {
	cause := errors.New(m.Metadata.Get(middleware.ReasonForPoisonedKey))
	if cause.Error() == "" {
		cause = errors.New("failed all its retries")
	}
	e, err := changelog.Unmarshal(m.Payload)
	if err != nil {
		e = eventFromMetadata(m)
		if !strings.Contains(cause.Error(), err.Error()) {
			cause = fmt.Errorf("%v: %v", cause, err)
		}
	}
	return e, projection.Park(ctx, read, e, []byte(envelopeText(m.Payload)), cause, attemptsOf(m))
}

// eventFromMetadata says what an unreadable message is from its metadata
// (which the relay sets) or, failing that, from whatever fields of the
// envelope can be read. It has no payload.
func eventFromMetadata(m *message.Message) order.Event {
	var env struct {
		EventID      string `json:"event_id"`
		OrderID      string `json:"order_id"`
		OrderVersion int    `json:"order_version"`
		Type         string `json:"type"`
	}
	_ = json.Unmarshal(m.Payload, &env) // best effort: any field read helps
	var e order.Event
	e.ID = firstUUID(m.UUID, env.EventID)
	if e.ID == uuid.Nil {
		// The same message parked twice must land on the same entry.
		e.ID = uuid.NewSHA1(uuid.NameSpaceOID, append([]byte(m.UUID+"\x00"), m.Payload...))
	}
	e.OrderID = firstUUID(m.Metadata.Get(changelog.MetaOrderID), env.OrderID)
	if v, err := strconv.Atoi(m.Metadata.Get(changelog.MetaVersion)); err == nil && v > 0 {
		e.OrderVersion = v
	} else {
		e.OrderVersion = max(env.OrderVersion, 0)
	}
	e.Type = m.Metadata.Get(changelog.MetaType)
	if e.Type == "" {
		e.Type = env.Type
	}
	if e.Type == "" {
		e.Type = "unknown"
	}
	return e
}

func firstUUID(candidates ...string) uuid.UUID {
	for _, c := range candidates {
		if id, err := uuid.Parse(c); err == nil && id != uuid.Nil {
			return id
		}
	}
	return uuid.Nil
}

// Relay sets aside, for the relay (its Parker), a change-log row the relay
// cannot read or publish: parked raw, so that a version of the code that
// can read it replays it, with its order's later events held behind it.
type Relay struct {
	Read *bun.DB
	// Parked, if set, is called for each entry parked.
	Parked func()
}

// ParkEntry parks e, unless the error log has it already.
func (p Relay) ParkEntry(ctx context.Context, e changelog.Entry, cause error) error {
	if err := SetAside(ctx, p.Read, e, fmt.Errorf("relay: %w", cause)); err != nil {
		return err
	}
	if p.Parked != nil {
		p.Parked()
	}
	return nil
}

// SetAside parks a change-log entry that cannot be applied (unreadable, or
// refused by the order's rules), unless the error log has it already: for
// the relay and for a rebuild, which may meet the same row again.
func SetAside(ctx context.Context, db bun.IDB, e changelog.Entry, cause error) error {
	envelope := e.Envelope
	if envelope == nil {
		var err error
		if envelope, err = changelog.Marshal(e.Event); err != nil {
			return err
		}
	}
	return projection.SetAside(ctx, db, e.Event, []byte(envelopeText(envelope)), cause, 1)
}

// Commands is the command bus's error log (commandbus.ErrorLog): a
// command it gives up on is parked as a command entry, to be re-queued or
// discarded.
type Commands struct{ Read *bun.DB }

// ParkCommand parks c, or parks its entry again.
func (p Commands) ParkCommand(ctx context.Context, c commandbus.Parked) error {
	return projection.ParkCommand(ctx, p.Read, c.CommandID, c.OrderID, c.Type, []byte(envelopeText(c.Envelope)), c.Err, c.Attempts)
}
