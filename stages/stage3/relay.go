package stage3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// Relay publishes the change log to the event bus, in commit order, and
// remembers how far it got in the database of record. A crash between
// publishing and saving the position publishes the same events again: the
// bus drops copies it has seen (the message UUID is the event ID) and the
// projector ignores any that still arrive (versions).
//
// A row it cannot read (a schema version this code does not know, written
// by a newer instance during a rolling upgrade) or the bus refuses for good
// (too large) would stop it for every order if it retried: with a Parker it
// sets such a row aside and goes on with the others.
type Relay struct {
	db    *bun.DB
	pub   message.Publisher
	topic string
	name  string
	batch int
	idle  time.Duration
	wake  chan struct{}
	log   *slog.Logger
	// published counts the events sent, for /metrics (nil: not counted).
	published *metrics.Counter
	// parker takes the rows the relay cannot read or publish; nil: the
	// relay retries them (and stops there).
	parker Parker
}

// Parker sets aside what the relay cannot read or publish: the error log,
// where the later events of the entry's order are held behind it, so that
// the order's events stay in order while the relay goes on. It must be
// idempotent: after a crash the relay sets the same entry aside again.
type Parker interface {
	ParkEntry(ctx context.Context, e changelog.Entry, cause error) error
}

// NewRelay returns a relay from the change log in db to topic.
func NewRelay(db *bun.DB, pub message.Publisher, topic string, log *slog.Logger) *Relay {
	return &Relay{db: db, pub: pub, topic: topic, name: "relay:" + topic, batch: 256, idle: 250 * time.Millisecond,
		wake: make(chan struct{}, 1), log: log}
}

// Wake tells the relay that a transaction appended events, so it need not
// wait for its next poll.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends. On PostgreSQL only one relay per database runs
// at a time (an advisory lock); the others wait to take over.
func (r *Relay) Run(ctx context.Context) error {
	if sqlstore.DialectName(r.db) == sqlstore.Postgres {
		conn, err := r.leader(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
	}
	pos, err := changelog.LoadPosition(ctx, r.db, r.name)
	if err != nil {
		return fmt.Errorf("relay: load position: %w", err)
	}
	backoff := 100 * time.Millisecond
	for {
		n, next, err := r.once(ctx, pos)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.log.WarnContext(ctx, "relay: will retry", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		pos = next
		if n == r.batch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-time.After(r.idle):
		}
	}
}

// once publishes one batch and saves the position after it. Entries it
// cannot read or publish go to the parker, in their place in the batch:
// what comes before them is published first.
func (r *Relay) once(ctx context.Context, pos changelog.Position) (int, changelog.Position, error) {
	entries, err := changelog.Read(ctx, r.db, pos, r.batch)
	if err != nil || len(entries) == 0 {
		return 0, pos, err
	}
	var pending []changelog.Entry
	for _, e := range entries {
		if e.Err == nil {
			pending = append(pending, e)
			continue
		}
		if err := r.publish(ctx, pending); err != nil {
			return 0, pos, err
		}
		pending = pending[:0]
		if err := r.park(ctx, e, e.Err); err != nil {
			return 0, pos, err
		}
	}
	if err := r.publish(ctx, pending); err != nil {
		return 0, pos, err
	}
	next := entries[len(entries)-1].Position
	if err := changelog.SavePosition(ctx, r.db, r.name, next); err != nil {
		return 0, pos, fmt.Errorf("save relay position: %w", err)
	}
	return len(entries), next, nil
}

// publish sends entries' events, in order. When the bus refuses one for
// good, it sends them one at a time and parks the ones it refuses.
func (r *Relay) publish(ctx context.Context, entries []changelog.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	msgs := make([]*message.Message, 0, len(entries))
	for _, e := range entries {
		m, err := eventMessage(e.Event)
		if err != nil {
			// An event read from the log always encodes; if one does not,
			// no retry will change that.
			return r.publish1(ctx, entries)
		}
		msgs = append(msgs, m)
	}
	err := r.pub.Publish(r.topic, msgs...)
	if err == nil {
		r.published.Add(len(msgs))
		return nil
	}
	if !refusedByBus(err) {
		return fmt.Errorf("publish %d events: %w", len(msgs), err)
	}
	return r.publish1(ctx, entries)
}

// publish1 sends entries one at a time, parking each one that cannot be
// encoded or that the bus refuses for good.
func (r *Relay) publish1(ctx context.Context, entries []changelog.Entry) error {
	for _, e := range entries {
		m, err := eventMessage(e.Event)
		if err == nil {
			if err = r.pub.Publish(r.topic, m); err == nil {
				r.published.Inc()
				continue
			}
			if !refusedByBus(err) {
				return fmt.Errorf("publish event %s: %w", e.Event.ID, err)
			}
		}
		if err := r.park(ctx, e, err); err != nil {
			return err
		}
	}
	return nil
}

// refusedByBus tells whether the bus refused a message for good: retrying it
// cannot help.
func refusedByBus(err error) bool { return errors.Is(err, nats.ErrMaxPayload) }

// park sets an entry aside, or fails (the batch is retried) when there is
// no parker.
func (r *Relay) park(ctx context.Context, e changelog.Entry, cause error) error {
	if r.parker == nil {
		return fmt.Errorf("relay: %w", cause)
	}
	if err := r.parker.ParkEntry(ctx, e, cause); err != nil {
		return fmt.Errorf("relay: set aside %s v%d of order %s: %w", e.Event.Type, e.Event.OrderVersion, e.Event.OrderID, err)
	}
	r.log.ErrorContext(ctx, "relay: set aside a change log entry it cannot relay; the order's later events are held behind it",
		"seq", e.Seq, "order", e.Event.OrderID, "version", e.Event.OrderVersion, "type", e.Event.Type, "err", cause)
	return nil
}

// leader waits until this process holds the relay's advisory lock.
func (r *Relay) leader(ctx context.Context) (interface{ Close() error }, error) {
	for {
		conn, err := r.db.Conn(ctx)
		if err == nil {
			var ok bool
			err = conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext(?))", r.name).Scan(&ok)
			if err == nil && ok {
				return conn, nil
			}
			conn.Close()
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			r.log.WarnContext(ctx, "relay: leader lock", "err", err)
		}
		if !sleep(ctx, 2*time.Second) {
			return nil, ctx.Err()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
