package stage3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/sqlstore"
)

// A projector that gives every event a transaction of its own pays a
// commit — a disk sync on SQLite, a round trip and a WAL flush on
// PostgreSQL — per event, and two projectors on one read database share
// the disk's few thousand syncs a second: at the write side's maximum rate
// they fall behind. So each projector applies its events in batches: a
// batch is one read-database transaction kept open across consecutive
// events, committed when it holds batchSize events, when no next event
// came within batchIdle, or batchMaxAge after it began — whichever comes
// first. The rules of the projection do not change: each event is still
// applied alone, in the order the bus delivers it, with the same version
// checks, only its commit is shared.
//
// What changes is when an event is acknowledged. Its message is answered
// to JetStream only once the transaction holding it committed
// (messaging.DeferAck): the handler returns at once, so the subscriber
// hands out the next event, while the message stays unacknowledged on the
// bus until the commit. A process killed with a batch open loses its
// transaction and none of its acks were sent: JetStream delivers the
// events again. A commit that fails nacks them all: they come again, and
// the version checks make the ones already applied no-ops. What follows a
// commit — the metrics, the live change notifications — is done after it,
// so that nobody is told of a change the read database does not have yet.
//
// SQLite has a single writer, and a batch holds the write lock from its
// first event to its commit; PostgreSQL holds the rows it wrote. So
// anything else that writes the read database, or reads it for what the
// batch has just written, commits the open batch first: a gap filled from
// the database of record, the error log holding or replaying an event, a
// rebuild swapping the tables in (see Projector.exclusive). On SQLite the
// order projector and the dashboard projector share one batch (see
// addDashboard): with one writer, two transactions could only take turns,
// each projector waiting for the other's commit — and in SQLite's busy
// loop, which polls at growing intervals, one could miss every moment the
// other's lock is free while events keep coming. On PostgreSQL each has
// its own, and they write side by side.
const (
	batchSize   = 256
	batchIdle   = 2 * time.Millisecond
	batchMaxAge = 20 * time.Millisecond
)

// batch is one projector's open transaction on the read database and the
// events applied in it so far. Its methods are safe for concurrent use:
// the handler adds events while a timer may commit.
type batch struct {
	db  *bun.DB
	log *slog.Logger
	// size, idle and maxAge are when to commit (batchSize, batchIdle,
	// batchMaxAge).
	size         int
	idle, maxAge time.Duration
	// last are run in the transaction just before it commits: they
	// write what the batch's events left for the end (the history rows,
	// the dashboard's figures).
	last []func(ctx context.Context, tx bun.Tx) error
	// discard are run when the transaction rolls back, to forget what
	// last would have written.
	discard []func()

	mu     sync.Mutex
	tx     bun.Tx
	open   bool
	began  time.Time
	latest time.Time // when the last event was added
	events int
	// settle answers the bus for each message in the transaction;
	// after is what to do once it committed.
	settle []messaging.Settle
	after  []func()
	timer  *time.Timer
	// asked and answer keep, for the open transaction, what ask's
	// question returned in it.
	asked, answer bool
}

// newBatch returns an empty batch on the read database db.
func newBatch(db *bun.DB, log *slog.Logger) *batch {
	return &batch{db: db, log: log, size: batchSize, idle: batchIdle, maxAge: batchMaxAge}
}

// shared reports whether the projectors of db share one batch: on SQLite,
// which has one writer.
func shared(db *bun.DB) bool { return sqlstore.DialectName(db) == sqlstore.SQLite }

// beforeCommit adds last, to run in each transaction just before it
// commits, and discard, to forget what last would have written when a
// transaction rolls back.
func (b *batch) beforeCommit(last func(ctx context.Context, tx bun.Tx) error, discard func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = append(b.last, last)
	b.discard = append(b.discard, discard)
}

// ask answers a yes-or-no question about the read database in the open
// transaction (beginning one if none is open), asking it only once per
// transaction: the answer is kept until the transaction commits or rolls
// back. It is how the error log asks, once per batch rather than once per
// event, whether it holds any parked event at all (errorlog.Projector's
// Clear). A batch keeps one answer, so it serves one question.
func (b *batch) ask(ctx context.Context, q func(ctx context.Context, db bun.IDB) (bool, error)) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.beginLocked(ctx); err != nil {
		return false, err
	}
	if !b.asked {
		answer, err := q(ctx, b.tx)
		if err != nil {
			return false, err
		}
		b.asked, b.answer = true, answer
	}
	return b.answer, nil
}

// beginLocked begins a transaction if none is open.
func (b *batch) beginLocked(ctx context.Context) error {
	if b.open {
		return nil
	}
	// The transaction outlives the message: its context ends once the
	// message is answered.
	tx, err := b.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("begin a batch: %w", err)
	}
	b.tx, b.open, b.began, b.latest = tx, true, time.Now(), time.Now()
	b.armLocked()
	return nil
}

// errBatchFailed marks an event whose transaction could not commit: the
// other events of the batch were nacked, to come again.
var errBatchFailed = errors.New("the batch of events could not commit")

// apply runs step for msg's event in the open transaction (beginning one
// if none is open). On success the message's answer to the bus waits for
// the commit, and after runs once it is done. A step that fails ends the
// batch first, so that the caller finds the read database without an open
// transaction (to fill a gap, to park the event): committed if the failure
// wrote nothing (a gap, an event the rules refuse), rolled back otherwise,
// and its messages nacked. A message that cannot wait for a commit (one
// that did not come from the bus's subscriber) is committed before apply
// returns.
func (b *batch) apply(msg *message.Message, step func(ctx context.Context, tx bun.Tx) (after func(), clean bool, err error)) error {
	ctx := msg.Context()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.beginLocked(ctx); err != nil {
		return err
	}
	after, clean, err := step(ctx, b.tx)
	if err != nil {
		if clean {
			if cerr := b.commitLocked(); cerr != nil {
				return errors.Join(err, cerr)
			}
			return err
		}
		b.rollbackLocked(err)
		return err
	}
	if after != nil {
		b.after = append(b.after, after)
	}
	b.events++
	b.latest = time.Now()
	settle, deferred := messaging.DeferAck(ctx)
	if !deferred {
		return b.commitLocked()
	}
	b.settle = append(b.settle, settle)
	if b.events >= b.size {
		return b.commitLocked()
	}
	b.armLocked()
	return nil
}

// armLocked sets the timer to the next moment the batch may have to
// commit: batchIdle after its last event, batchMaxAge after it began.
func (b *batch) armLocked() {
	wait := min(b.idle, b.maxAge-time.Since(b.began))
	if b.timer == nil {
		b.timer = time.AfterFunc(wait, b.tick)
		return
	}
	b.timer.Reset(wait)
}

// tick commits the batch when it has been idle or open long enough; a
// tick that finds an event added since it was set waits again.
func (b *batch) tick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return
	}
	if time.Since(b.latest) < b.idle && time.Since(b.began) < b.maxAge {
		b.armLocked()
		return
	}
	if err := b.commitLocked(); err != nil {
		b.log.Warn("projector: a batch of events could not commit; the bus delivers them again", "err", err)
	}
}

// flush commits the open batch, if any: before something else writes the
// read database, or reads what the batch wrote.
func (b *batch) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.commitLocked()
}

// commitLocked commits the open transaction, then acknowledges its
// messages and runs what waited for it; a failed commit nacks them.
func (b *batch) commitLocked() error {
	if !b.open {
		return nil
	}
	var err error
	for _, last := range b.last {
		if err = last(context.Background(), b.tx); err != nil {
			break
		}
	}
	if err == nil {
		err = b.tx.Commit()
	}
	if err != nil {
		b.rollbackLocked(err)
		return fmt.Errorf("%w: %w", errBatchFailed, err)
	}
	settle, after := b.settle, b.after
	b.reset()
	for _, s := range settle {
		s(true)
	}
	for _, f := range after {
		f()
	}
	return nil
}

// rollbackLocked rolls the open transaction back and nacks its messages:
// the bus delivers them again.
func (b *batch) rollbackLocked(cause error) {
	if !b.open {
		return
	}
	_ = b.tx.Rollback()
	for _, discard := range b.discard {
		discard()
	}
	settle, n := b.settle, b.events
	b.reset()
	for _, s := range settle {
		s(false)
	}
	if n > 0 {
		b.log.Warn("projector: a batch of events rolled back; the bus delivers them again", "events", n, "err", cause)
	}
}

// reset ends the open transaction's state, once it committed or rolled
// back.
func (b *batch) reset() {
	if b.timer != nil {
		b.timer.Stop()
	}
	b.tx, b.open, b.events = bun.Tx{}, false, 0
	b.asked, b.answer = false, false
	b.settle, b.after = nil, nil
}
