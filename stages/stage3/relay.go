package stage3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// Relay publishes the change log to the event bus, in commit order, and
// remembers how far it got in the database of record.
//
// It sends what it reads as one atomic batch — JetStream stores all of it
// or none, with one fsync rather than one per event — and where the bus
// takes no batch (an older server, or a batch holding an event it stored
// before a crash), one event at a time without waiting for each ack,
// keeping up to a window of them unacknowledged. The position it saves is
// that of the last event of the acknowledged prefix — every event up to it
// is on the bus — so a crash, or a failed publish, sends again from there:
// the bus drops copies it has seen (the message UUID is the event ID) and
// the projector ignores any that still arrive (versions).
//
// A row it cannot read (a schema version this code does not know, written
// by a newer instance during a rolling upgrade) or the bus refuses for good
// (too large) would stop it for every order if it retried: with a Parker it
// sets such a row aside and goes on with the others.
type Relay struct {
	db     *bun.DB
	pub    Publisher
	topic  string
	name   string
	batch  int
	window int
	idle   time.Duration
	wake   chan struct{}
	log    *slog.Logger
	// published counts the events sent, for /metrics (nil: not counted).
	published *metrics.Counter
	// parker takes the rows the relay cannot read or publish; nil: the
	// relay retries them (and stops there).
	parker Parker
	// hold, if set, is asked each round whether to publish nothing this
	// round (the workshop's relay pause).
	hold func() bool
}

// Publisher sends events to the bus (messaging.Publisher): PublishBatch
// stores a batch all or none, or fails with messaging.ErrBatchDisabled or
// messaging.ErrBatchDuplicate; PublishAsync sends one without waiting for
// it to be stored, the future resolving with the bus's ack. Messages sent
// one after another are stored in that order.
type Publisher interface {
	PublishBatch(ctx context.Context, topic string, ms []*message.Message) error
	PublishAsync(topic string, m *message.Message) (jetstream.PubAckFuture, error)
}

// Parker sets aside what the relay cannot read or publish: the error log,
// where the later events of the entry's order are held behind it, so that
// the order's events stay in order while the relay goes on. It must be
// idempotent: after a crash the relay sets the same entry aside again.
type Parker interface {
	ParkEntry(ctx context.Context, e changelog.Entry, cause error) error
}

// Defaults of a relay: how many change-log rows it reads at a time, and
// how many events it keeps sent and not yet acknowledged.
const (
	relayBatch  = 500 // at most messaging.MaxBatch
	relayWindow = 1024
)

// NewRelay returns a relay from the change log in db to topic.
func NewRelay(db *bun.DB, pub Publisher, topic string, log *slog.Logger) *Relay {
	return &Relay{db: db, pub: pub, topic: topic, name: RelayPositionName(topic), batch: relayBatch, window: relayWindow,
		idle: 250 * time.Millisecond, wake: make(chan struct{}, 1), log: log}
}

// RelayPositionName is the name under which the relay to topic saves its
// position in the change log (changelog.SavePosition), and the key of its
// leader lock on PostgreSQL.
func RelayPositionName(topic string) string { return "relay:" + topic }

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
		release, err := r.leader(ctx)
		if err != nil {
			return err
		}
		defer release()
	}
	pos, err := changelog.LoadPosition(ctx, r.db, r.name)
	if err != nil {
		return fmt.Errorf("relay: load position: %w", err)
	}
	p := &pipeline{r: r, read: pos, acked: pos, saved: pos, batches: true}
	backoff := 100 * time.Millisecond
	for {
		if r.hold != nil && r.hold() {
			if !sleep(ctx, r.idle) {
				return nil
			}
			continue
		}
		n, err := p.step(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.log.WarnContext(ctx, "relay: will retry", "err", err, "in", backoff, "from", p.acked)
			p.restart()
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
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

// pipeline is a running relay's place in the change log: what it has read
// and sent, what the bus has acknowledged, what it has saved.
type pipeline struct {
	r *Relay
	// read is the position of the last entry sent or parked; acked of the
	// last one of the prefix the bus acknowledged (or that was parked);
	// saved the one recorded in the database. saved ≤ acked ≤ read.
	read, acked, saved changelog.Position
	// pending are the entries sent and not yet acknowledged, in order.
	pending []sent
	// batches is whether the bus takes atomic batches.
	batches bool
}

// sent is an event sent to the bus, awaiting its ack.
type sent struct {
	entry changelog.Entry
	ack   jetstream.PubAckFuture
}

// step reads the next batch of the change log and sends it; when it sent
// events one at a time it waits for their acks only when the window is
// full, or when the batch is the last one (the relay caught up). Then it
// saves the position of the acknowledged prefix. It returns how many
// entries it read.
//
// Entries it cannot read or publish go to the parker in their place: what
// comes before them is acknowledged first.
func (p *pipeline) step(ctx context.Context) (int, error) {
	r := p.r
	entries, err := changelog.Read(ctx, r.db, p.read, r.batch)
	if err != nil {
		return 0, err
	}
	run := make([]changelog.Entry, 0, len(entries))
	msgs := make([]*message.Message, 0, len(entries))
	for _, e := range entries {
		cause := e.Err
		if cause == nil {
			var m *message.Message
			// An event read from the log always encodes; if one does
			// not, no retry will change that.
			if m, cause = eventMessage(e.Event, e.Metadata); cause == nil {
				run, msgs = append(run, e), append(msgs, m)
				continue
			}
		}
		if err := p.publish(ctx, run, msgs); err != nil {
			return 0, err
		}
		run, msgs = run[:0], msgs[:0]
		if err := p.park(ctx, e, cause); err != nil {
			return 0, err
		}
	}
	if err := p.publish(ctx, run, msgs); err != nil {
		return 0, err
	}
	if len(entries) < r.batch {
		err = p.drain(ctx)
	} else {
		err = p.collect()
	}
	if err != nil {
		return 0, err
	}
	if p.acked != p.saved {
		if err := changelog.SavePosition(ctx, r.db, r.name, p.acked); err != nil {
			return 0, fmt.Errorf("save relay position: %w", err)
		}
		p.saved = p.acked
	}
	return len(entries), nil
}

// publish sends entries' events, msgs, as one batch, or one at a time
// when the bus takes no batch of them.
func (p *pipeline) publish(ctx context.Context, entries []changelog.Entry, msgs []*message.Message) error {
	if len(entries) == 0 {
		return nil
	}
	r := p.r
	if p.batches {
		if err := p.drain(ctx); err != nil {
			return err
		}
		err := r.pub.PublishBatch(ctx, r.topic, msgs)
		switch {
		case err == nil:
			p.read, p.acked = entries[len(entries)-1].Position, entries[len(entries)-1].Position
			r.published.Add(len(msgs))
			return nil
		case errors.Is(err, messaging.ErrBatchDisabled):
			r.log.InfoContext(ctx, "relay: the bus takes no atomic batches; publishing one event at a time", "err", err)
			p.batches = false
		case errors.Is(err, messaging.ErrBatchDuplicate), refusedByBus(err):
			// One at a time, the bus drops the copies and refuses only
			// the one it cannot take.
		default:
			return fmt.Errorf("publish %d events: %w", len(msgs), err)
		}
	}
	for i, e := range entries {
		if err := p.send(ctx, e, msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

// send sends one entry's event once the window has room, or parks the
// entry when the bus refuses it for good.
func (p *pipeline) send(ctx context.Context, e changelog.Entry, m *message.Message) error {
	r := p.r
	for len(p.pending) >= r.window {
		if err := p.awaitFirst(ctx); err != nil {
			return err
		}
	}
	f, err := r.pub.PublishAsync(r.topic, m)
	if err == nil {
		p.pending = append(p.pending, sent{entry: e, ack: f})
		p.read = e.Position
		return nil
	}
	if !refusedByBus(err) {
		return fmt.Errorf("publish event %s: %w", e.Event.ID, err)
	}
	return p.park(ctx, e, err)
}

// park sets an entry aside once everything before it is acknowledged.
func (p *pipeline) park(ctx context.Context, e changelog.Entry, cause error) error {
	if err := p.drain(ctx); err != nil {
		return err
	}
	if err := p.r.park(ctx, e, cause); err != nil {
		return err
	}
	p.read, p.acked = e.Position, e.Position
	return nil
}

// awaitFirst waits for the ack of the oldest event pending.
func (p *pipeline) awaitFirst(ctx context.Context) error {
	f := p.pending[0].ack
	select {
	case <-f.Ok():
	case err := <-f.Err():
		return p.failed(err)
	case <-ctx.Done():
		return ctx.Err()
	}
	p.acknowledged()
	return nil
}

// collect takes the acks already in, oldest first, without waiting.
func (p *pipeline) collect() error {
	for len(p.pending) > 0 {
		f := p.pending[0].ack
		select {
		case <-f.Ok():
			p.acknowledged()
		case err := <-f.Err():
			return p.failed(err)
		default:
			return nil
		}
	}
	return nil
}

// drain waits for every pending ack.
func (p *pipeline) drain(ctx context.Context) error {
	for len(p.pending) > 0 {
		if err := p.awaitFirst(ctx); err != nil {
			return err
		}
	}
	return nil
}

// acknowledged moves the acknowledged prefix past the oldest pending event.
func (p *pipeline) acknowledged() {
	p.acked = p.pending[0].entry.Position
	p.pending[0] = sent{}
	p.pending = p.pending[1:]
	p.r.published.Inc()
}

func (p *pipeline) failed(err error) error {
	e := p.pending[0].entry.Event
	return fmt.Errorf("publish %s v%d of order %s: %w", e.Type, e.OrderVersion, e.OrderID, err)
}

// restart forgets what was sent and not acknowledged, to send it again
// from the acknowledged prefix: copies of what the bus stored meanwhile are
// dropped by the bus or the projector.
func (p *pipeline) restart() {
	p.pending = nil
	p.read = p.acked
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

// leader waits until this process holds the relay's advisory lock, and
// returns how to release it. The lock belongs to the session, which outlives
// the connection's return to the pool: it is unlocked explicitly, so that a
// relay started again in the same process (or another instance) takes over.
func (r *Relay) leader(ctx context.Context) (release func(), err error) {
	for {
		conn, err := r.db.Conn(ctx)
		if err == nil {
			var ok bool
			err = conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext(?))", r.name).Scan(&ok)
			if err == nil && ok {
				return func() {
					ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					defer cancel()
					if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock(hashtext(?))", r.name); err != nil {
						// Closing the session would free it; a pooled one
						// that cannot answer is discarded by the pool.
						r.log.WarnContext(ctx, "relay: release the leader lock", "err", err)
					}
					conn.Close()
				}, nil
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

// RelayWait is what holds the relay back: on PostgreSQL the oldest open
// transaction of the write database with the events committed behind it
// (changelog.Wait; Reason says it for a person).
type RelayWait = changelog.Wait

// RelayWaiting tells what the relay waits for, for readiness checks and the
// architecture page: on PostgreSQL it publishes only the events below the
// oldest transaction still open in the write database (one in another
// database does not hold it back), so a transaction left open stalls the
// read side for every order. The zero RelayWait: nothing holds it back.
func (s *Stage) RelayWaiting(ctx context.Context) (RelayWait, error) {
	return changelog.Waiting(ctx, s.cfg.Write)
}
