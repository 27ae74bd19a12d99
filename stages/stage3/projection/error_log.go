package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// The statuses of an error log entry.
const (
	// StatusParked: the event failed all its retries; its order's later
	// events are held behind it.
	StatusParked = "parked"
	// StatusHeld: the event came after a parked event of its order and was
	// not tried, to keep the order's events in order.
	StatusHeld = "held"
	// StatusReplayed: Replay applied the event (or found it already
	// applied). It no longer holds anything back.
	StatusReplayed = "replayed"
	// StatusDiscarded: an operator discarded the entry instead of
	// replaying it. It no longer holds anything back.
	StatusDiscarded = "discarded"
)

// The kinds of error log entry.
const (
	// KindEvent is an event the projector or the relay set aside.
	KindEvent = "event"
	// KindCommand is a command the command bus set aside: EventID is the
	// command ID, OrderVersion 0, and it holds nothing back.
	KindCommand = "command"
)

// ErrorEntry is one event in the error log.
type ErrorEntry struct {
	bun.BaseModel `bun:"table:error_log,alias:el"`

	ID            int64     `bun:"id,pk,autoincrement"`
	Kind          string    `bun:"kind"` // KindEvent or KindCommand
	EventID       uuid.UUID `bun:"event_id"`
	OrderID       order.ID  `bun:"order_id"`
	OrderVersion  int       `bun:"order_version"`
	Type          string    `bun:"type"`
	Envelope      string    `bun:"envelope"` // the message as it arrived
	Error         string    `bun:"error"`
	Attempts      int       `bun:"attempts"`
	Status        string    `bun:"status"`
	FirstFailedAt time.Time `bun:"first_failed_at"`
	LastFailedAt  time.Time `bun:"last_failed_at"`
}

// Park puts an event that failed all its retries in the error log, with the
// message as it arrived (envelope, which must be text: JSON), why it failed
// and how often it was tried. The order's later events are then held behind
// it (Held). Parking an event already in the log updates its entry and parks
// it again.
func Park(ctx context.Context, db bun.IDB, e order.Event, envelope []byte, cause error, attempts int) error {
	now := time.Now().UTC()
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	entry := entryOf(e, envelope, msg, attempts, StatusParked, now)
	_, err := db.NewInsert().Model(entry).
		On("CONFLICT (event_id) DO UPDATE").
		Set("error = EXCLUDED.error").
		Set("attempts = EXCLUDED.attempts").
		Set("status = EXCLUDED.status").
		Set("last_failed_at = EXCLUDED.last_failed_at").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("park event %s of order %s: %w", e.ID, e.OrderID, err)
	}
	return nil
}

// SetAside puts an event in the error log as parked, as Park does, unless
// the log has it already (in any status): for the relay, which sets aside
// the change-log rows it cannot read or publish, and sets the same row
// aside again after a restart — an entry an operator replayed or discarded
// meanwhile stays so.
func SetAside(ctx context.Context, db bun.IDB, e order.Event, envelope []byte, cause error, attempts int) error {
	entry := entryOf(e, envelope, cause.Error(), attempts, StatusParked, time.Now().UTC())
	if _, err := db.NewInsert().Model(entry).On("CONFLICT (event_id) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("set aside event %s of order %s: %w", e.ID, e.OrderID, err)
	}
	return nil
}

// Held reports whether an order has events parked or held in the error log:
// then its later events must be held behind them (Hold), not applied.
func Held(ctx context.Context, db bun.IDB, orderID order.ID) (bool, error) {
	ok, err := db.NewSelect().Model((*ErrorEntry)(nil)).
		Where("el.kind = ?", KindEvent).
		Where("el.order_id = ?", orderID).
		Where("el.status IN (?)", bun.In([]string{StatusParked, StatusHeld})).
		Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("check error log for order %s: %w", orderID, err)
	}
	return ok, nil
}

// NoneHeld reports whether the error log has no event parked or held at
// all, for any order: then no event has to be held, and Held need not be
// asked order by order.
func NoneHeld(ctx context.Context, db bun.IDB) (bool, error) {
	ok, err := db.NewSelect().Model((*ErrorEntry)(nil)).
		Where("el.kind = ?", KindEvent).
		Where("el.status IN (?)", bun.In([]string{StatusParked, StatusHeld})).
		Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("check error log for held events: %w", err)
	}
	return !ok, nil
}

// CountParked counts the entries parked in the error log (events and
// commands), without reading them.
func CountParked(ctx context.Context, db bun.IDB) (int, error) {
	n, err := db.NewSelect().Model((*ErrorEntry)(nil)).Where("el.status = ?", StatusParked).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count parked entries: %w", err)
	}
	return int(n), nil
}

// Hold puts an event in the error log behind its order's parked one,
// untried. Holding an event already in the log changes nothing.
func Hold(ctx context.Context, db bun.IDB, e order.Event, envelope []byte) error {
	entry := entryOf(e, envelope, "held behind an earlier event of the order in the error log", 0, StatusHeld, time.Now().UTC())
	if _, err := db.NewInsert().Model(entry).On("CONFLICT (event_id) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("hold event %s of order %s: %w", e.ID, e.OrderID, err)
	}
	return nil
}

func entryOf(e order.Event, envelope []byte, msg string, attempts int, status string, now time.Time) *ErrorEntry {
	typ := e.Type
	if typ == "" && e.Payload != nil {
		typ = e.Payload.EventType()
	}
	return &ErrorEntry{
		Kind: KindEvent, EventID: e.ID, OrderID: e.OrderID, OrderVersion: e.OrderVersion, Type: typ, Envelope: string(envelope),
		Error: msg, Attempts: attempts, Status: status, FirstFailedAt: now, LastFailedAt: now,
	}
}

// ErrorLog lists the error log, oldest first, replayed entries included.
func ErrorLog(ctx context.Context, db bun.IDB) ([]ErrorEntry, error) {
	entries := []ErrorEntry{}
	if err := db.NewSelect().Model(&entries).Order("el.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list error log: %w", err)
	}
	return entries, nil
}

// ErrorEntryByID returns one entry of the error log; ENOTFOUND if there is
// none with that ID.
func ErrorEntryByID(ctx context.Context, db bun.IDB, id int64) (ErrorEntry, error) {
	var e ErrorEntry
	err := db.NewSelect().Model(&e).Where("el.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return e, order.Errorf(order.ENOTFOUND, "error log entry %d not found", id)
	}
	if err != nil {
		return e, fmt.Errorf("read error log entry %d: %w", id, err)
	}
	return e, nil
}

// ReplayAll, as Replay's entry ID, replays every order in the error log.
const ReplayAll int64 = 0

// ReplayReport says what Replay did, or in a dry run would do, entry by
// entry.
type ReplayReport struct {
	DryRun bool
	Steps  []ReplayStep
	// Applied counts the events applied (or, dry, that would be), Skipped
	// those found already applied, Failed those that failed (would fail),
	// Waiting those left held behind a failure.
	Applied, Skipped, Failed, Waiting int
}

// ReplayStep is what became of one entry.
type ReplayStep struct {
	EntryID      int64
	OrderID      order.ID
	OrderVersion int
	Type         string
	Result       string // one of the Replay* results
	Text         string // e.g. "would apply v3 OrderShipped", "would still fail: gap at v2"
}

// The results of a ReplayStep.
const (
	ReplayApplied = "applied"
	ReplaySkipped = "skipped"
	ReplayFailed  = "failed"
	ReplayWaiting = "waiting"
)

// Decoder reads an event from the envelope it arrived in, as the projector
// does.
type Decoder func(envelope []byte) (order.Event, error)

// Replay applies again, through Apply into tables t, the parked and held
// events of the order of error log entry id — or of every order in the log
// for ReplayAll — in version order, and marks each one applied (or found
// already applied) replayed. At an order's first event that fails again it
// stops for that order: that entry is parked again with the new error and
// attempt, and the later ones stay held.
//
// With dryRun, Replay changes nothing: it applies each order's events in a
// transaction that it rolls back, and reports what would happen.
func Replay(ctx context.Context, db *bun.DB, t Tables, decode Decoder, id int64, dryRun bool) (ReplayReport, error) {
	report := ReplayReport{DryRun: dryRun}
	var orders []order.ID
	if id != ReplayAll {
		e, err := ErrorEntryByID(ctx, db, id)
		if err != nil {
			return report, err
		}
		orders = []order.ID{e.OrderID}
	} else {
		err := db.NewSelect().Model((*ErrorEntry)(nil)).ColumnExpr("DISTINCT el.order_id").
			Where("el.kind = ?", KindEvent).
			Where("el.status IN (?)", bun.In([]string{StatusParked, StatusHeld})).
			OrderExpr("el.order_id").Scan(ctx, &orders)
		if err != nil {
			return report, fmt.Errorf("list orders in the error log: %w", err)
		}
	}
	for _, o := range orders {
		if err := replayOrder(ctx, db, t, decode, o, dryRun, &report); err != nil {
			return report, err
		}
	}
	return report, nil
}

// replayOrder replays one order's parked and held events. Entries held while
// it runs are picked up too: it goes on until none is left or one fails.
func replayOrder(ctx context.Context, db *bun.DB, t Tables, decode Decoder, id order.ID, dryRun bool, report *ReplayReport) error {
	var entries []ErrorEntry
	load := func() error {
		entries = entries[:0]
		err := db.NewSelect().Model(&entries).
			Where("el.kind = ?", KindEvent).
			Where("el.order_id = ?", id).
			Where("el.status IN (?)", bun.In([]string{StatusParked, StatusHeld})).
			Order("el.order_version", "el.id").Scan(ctx)
		if err != nil {
			return fmt.Errorf("read error log of order %s: %w", id, err)
		}
		return nil
	}
	if dryRun {
		if err := load(); err != nil {
			return err
		}
		// Roll back whatever the dry run applied, but report its results.
		dry := errors.New("dry run")
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for i, entry := range entries {
				ok, err := replayEntry(ctx, tx, t, decode, entry, true, report)
				if err != nil {
					return err
				}
				if !ok {
					wait(entries[i+1:], entry, true, report)
					break
				}
			}
			return dry
		})
		if errors.Is(err, dry) {
			return nil
		}
		return err
	}
	for range 100 {
		if err := load(); err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		for i, entry := range entries {
			var ok bool
			err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				var err error
				ok, err = replayEntry(ctx, tx, t, decode, entry, false, report)
				return err
			})
			if err != nil {
				return err
			}
			if !ok {
				wait(entries[i+1:], entry, false, report)
				return nil
			}
		}
	}
	return nil
}

// replayEntry applies one entry's event in tx and records the step. It
// reports false if the event failed again; then, unless dry, the entry is
// parked again with the new error.
func replayEntry(ctx context.Context, tx bun.Tx, t Tables, decode Decoder, entry ErrorEntry, dry bool, report *ReplayReport) (bool, error) {
	step := ReplayStep{EntryID: entry.ID, OrderID: entry.OrderID, OrderVersion: entry.OrderVersion, Type: entry.Type}
	what := fmt.Sprintf("v%d %s", entry.OrderVersion, entry.Type)
	e, err := decode([]byte(entry.Envelope))
	var outcome Outcome
	if err == nil {
		// A savepoint keeps tx usable after a failed statement on
		// PostgreSQL, so that the entry can still be parked again in it.
		err = tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
			var err error
			outcome, err = apply(ctx, sp, t, e)
			return err
		})
	}
	if err != nil {
		step.Result = ReplayFailed
		report.Failed++
		reason := err.Error()
		if errors.Is(err, ErrGap) {
			reason = gapText(ctx, tx, t, entry)
		}
		step.Text = prefix(dry, "would still fail: ", "still fails: ") + reason
		report.Steps = append(report.Steps, step)
		if dry {
			return false, nil
		}
		_, uerr := tx.NewUpdate().Model((*ErrorEntry)(nil)).
			Set("status = ?", StatusParked).Set("error = ?", err.Error()).
			Set("attempts = attempts + 1").Set("last_failed_at = ?", time.Now().UTC()).
			Where("id = ?", entry.ID).Exec(ctx)
		if uerr != nil {
			return false, fmt.Errorf("park error log entry %d again: %w", entry.ID, uerr)
		}
		return false, nil
	}
	if outcome == OutcomeApplied {
		step.Result = ReplayApplied
		report.Applied++
		step.Text = prefix(dry, "would apply ", "applied ") + what
	} else {
		step.Result = ReplaySkipped
		report.Skipped++
		step.Text = prefix(dry, "would skip ", "skipped ") + what + ": already applied"
	}
	report.Steps = append(report.Steps, step)
	if dry {
		return true, nil
	}
	_, err = tx.NewUpdate().Model((*ErrorEntry)(nil)).Set("status = ?", StatusReplayed).Where("id = ?", entry.ID).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("mark error log entry %d replayed: %w", entry.ID, err)
	}
	return true, nil
}

// gapText names the first missing version before an entry's event.
func gapText(ctx context.Context, db bun.IDB, t Tables, entry ErrorEntry) string {
	v, err := loadView(ctx, db, t, entry.OrderID)
	stored := 0
	if err == nil && v != nil {
		stored = v.Version
	}
	return fmt.Sprintf("gap at v%d", stored+1)
}

// wait records the entries left held behind a failed one.
func wait(rest []ErrorEntry, failed ErrorEntry, dry bool, report *ReplayReport) {
	for _, e := range rest {
		report.Waiting++
		report.Steps = append(report.Steps, ReplayStep{
			EntryID: e.ID, OrderID: e.OrderID, OrderVersion: e.OrderVersion, Type: e.Type, Result: ReplayWaiting,
			Text: fmt.Sprintf("%sheld behind v%d %s", prefix(dry, "would stay ", "stays "), failed.OrderVersion, failed.Type),
		})
	}
}

func prefix(dry bool, ifDry, ifNot string) string {
	if dry {
		return ifDry
	}
	return ifNot
}

// Waiting returns the ID of an entry of the order that is parked or held
// (Replay replays the whole order from any of them), or found false.
func Waiting(ctx context.Context, db bun.IDB, orderID order.ID) (id int64, found bool, err error) {
	err = db.NewSelect().Model((*ErrorEntry)(nil)).Column("el.id").
		Where("el.kind = ?", KindEvent).
		Where("el.order_id = ?", orderID).
		Where("el.status IN (?)", bun.In([]string{StatusParked, StatusHeld})).
		Order("el.order_version").Limit(1).
		Scan(ctx, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("check error log for order %s: %w", orderID, err)
	}
	return id, true, nil
}

// Discard marks entry id discarded, if it is parked or held, so that it no
// longer holds anything back, and returns it as it was. ENOTFOUND if there
// is no such entry; ECONFLICT if it is neither parked nor held.
func Discard(ctx context.Context, db bun.IDB, id int64) (ErrorEntry, error) {
	e, err := ErrorEntryByID(ctx, db, id)
	if err != nil {
		return e, err
	}
	res, err := db.NewUpdate().Model((*ErrorEntry)(nil)).Set("status = ?", StatusDiscarded).
		Where("id = ?", id).Where("status IN (?)", bun.In([]string{StatusParked, StatusHeld})).Exec(ctx)
	if err != nil {
		return e, fmt.Errorf("discard error log entry %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return e, order.Errorf(order.ECONFLICT, "error log entry %d is %s: only a parked or held entry can be discarded", id, e.Status)
	}
	return e, nil
}

// ParkCommand puts a command the command bus gave up on in the error log
// (KindCommand): under its command ID, with the message's payload
// (envelope, text), why it failed and how often it was tried. Parking it
// again (a redelivery, or a re-queued command that fails again) updates its
// entry and parks it again. A command entry holds nothing back.
func ParkCommand(ctx context.Context, db bun.IDB, commandID uuid.UUID, orderID order.ID, typ string, envelope []byte, cause string, attempts int) error {
	now := time.Now().UTC()
	entry := &ErrorEntry{Kind: KindCommand, EventID: commandID, OrderID: orderID, Type: typ, Envelope: string(envelope),
		Error: cause, Attempts: attempts, Status: StatusParked, FirstFailedAt: now, LastFailedAt: now}
	_, err := db.NewInsert().Model(entry).
		On("CONFLICT (event_id) DO UPDATE").
		Set("error = EXCLUDED.error").
		Set("attempts = EXCLUDED.attempts").
		Set("status = EXCLUDED.status").
		Set("last_failed_at = EXCLUDED.last_failed_at").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("park command %s: %w", commandID, err)
	}
	return nil
}

// ParkedCommands lists the command entries that are parked, oldest first.
func ParkedCommands(ctx context.Context, db bun.IDB) ([]ErrorEntry, error) {
	entries := []ErrorEntry{}
	err := db.NewSelect().Model(&entries).Where("el.kind = ?", KindCommand).Where("el.status = ?", StatusParked).
		Order("el.id").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list parked commands: %w", err)
	}
	return entries, nil
}

// MarkReplayed marks entry id replayed: for a command entry re-queued.
func MarkReplayed(ctx context.Context, db bun.IDB, id int64) error {
	if _, err := db.NewUpdate().Model((*ErrorEntry)(nil)).Set("status = ?", StatusReplayed).Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("mark error log entry %d replayed: %w", id, err)
	}
	return nil
}
