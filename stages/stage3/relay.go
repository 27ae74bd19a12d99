package stage3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
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

// once publishes one batch and saves the position after it.
func (r *Relay) once(ctx context.Context, pos changelog.Position) (int, changelog.Position, error) {
	entries, err := changelog.Read(ctx, r.db, pos, r.batch)
	if err != nil || len(entries) == 0 {
		return 0, pos, err
	}
	msgs := make([]*message.Message, len(entries))
	for i, e := range entries {
		if msgs[i], err = eventMessage(e.Event); err != nil {
			return 0, pos, err
		}
	}
	if err := r.pub.Publish(r.topic, msgs...); err != nil {
		return 0, pos, fmt.Errorf("publish %d events: %w", len(msgs), err)
	}
	next := entries[len(entries)-1].Position
	if err := changelog.SavePosition(ctx, r.db, r.name, next); err != nil {
		return 0, pos, fmt.Errorf("save relay position: %w", err)
	}
	r.published.Add(len(entries))
	return len(entries), next, nil
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
