package errorlog

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// Log is stage 3's error log (its dead letters) as an operator sees it:
// list, inspect, replay — or dry-run a replay of — and discard the events
// parked and the ones held behind them, and the commands set aside. The
// admin API and the `staircase dlq` command use it.
type Log struct {
	read *bun.DB
	// write, when set, is the database of record, which a discarded
	// event's order is synced from.
	write *bun.DB
	// requeue, when set, sends a command entry to the command bus again.
	requeue Requeuer
	// lock, when set, is the projector's, taken exclusively: a replay
	// runs between two events, so that the projector cannot hold an event
	// behind entries the replay is marking replayed (it would then wait
	// behind nothing), nor a rebuild swap the tables under it.
	lock sync.Locker
	// check, when set, is asked before an event is replayed: an error
	// makes the event fail again (the workshop's poisoned order).
	check func(order.Event) error
}

// Checking returns l, asking check before it replays an event: an event
// check fails stays parked, with check's error.
func (l *Log) Checking(check func(order.Event) error) *Log {
	c := *l
	c.check = check
	return &c
}

// decoder reads an entry's envelope for a replay: decode, then the check.
func (l *Log) decoder() projection.Decoder {
	if l.check == nil {
		return decode
	}
	return func(envelope []byte) (order.Event, error) {
		e, err := decode(envelope)
		if err != nil {
			return e, err
		}
		return e, l.check(e)
	}
}

// New returns the error log kept in the read database read. write is the
// database of record (nil: a discard does not sync the order from it),
// requeue what sends a command entry to the command bus again (nil: command
// entries cannot be replayed), lock the projector's (nil for a tool that
// runs without one, the CLI): taken exclusively, a replay runs between two
// events.
func New(read, write *bun.DB, requeue Requeuer, lock sync.Locker) *Log {
	return &Log{read: read, write: write, requeue: requeue, lock: lock}
}

// Requeuer sends a command the error log kept to the command bus again
// (commandbus.Bus.Requeue).
type Requeuer interface {
	Requeue(ctx context.Context, commandID uuid.UUID, orderID order.ID, typ string, envelope []byte) error
}

// Statuses are the statuses an error log entry can have, for filters.
var Statuses = []string{projection.StatusParked, projection.StatusHeld, projection.StatusReplayed, projection.StatusDiscarded}

// List lists the entries, oldest first; with status, only those with that
// status (an unknown status is an EINVALID error).
func (l *Log) List(ctx context.Context, status string) ([]projection.ErrorEntry, error) {
	if status != "" && !validStatus(status) {
		return nil, &order.Error{Code: order.EINVALID, Message: "unknown status",
			Fields: []order.FieldError{{Field: "status", Message: "must be one of " + strings.Join(Statuses, ", ")}}}
	}
	entries, err := projection.ErrorLog(ctx, l.read)
	if err != nil || status == "" {
		return entries, err
	}
	kept := entries[:0]
	for _, e := range entries {
		if e.Status == status {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

func validStatus(s string) bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Entry returns one entry; ENOTFOUND if there is none with that ID.
func (l *Log) Entry(ctx context.Context, id int64) (projection.ErrorEntry, error) {
	if id <= 0 {
		return projection.ErrorEntry{}, order.Errorf(order.ENOTFOUND, "error log entry %d not found", id)
	}
	return projection.ErrorEntryByID(ctx, l.read, id)
}

// Replay applies again the parked and held events of the order of entry id
// (projection.ReplayAll: of every order in the log), in version order, and
// reports what became of each; with dryRun it changes nothing and reports
// what would happen. See projection.Replay.
func (l *Log) Replay(ctx context.Context, id int64, dryRun bool) (projection.ReplayReport, error) {
	if id < 0 {
		return projection.ReplayReport{DryRun: dryRun}, order.Errorf(order.ENOTFOUND, "error log entry %d not found", id)
	}
	if id != projection.ReplayAll {
		e, err := projection.ErrorEntryByID(ctx, l.read, id)
		if err != nil {
			return projection.ReplayReport{DryRun: dryRun}, err
		}
		if e.Kind == projection.KindCommand {
			report := projection.ReplayReport{DryRun: dryRun}
			if e.Status != projection.StatusParked {
				return report, nil
			}
			return report, l.requeueCommand(ctx, e, dryRun, &report)
		}
	}
	report, err := l.replayEvents(ctx, id, dryRun)
	if err != nil || id != projection.ReplayAll {
		return report, err
	}
	commands, err := projection.ParkedCommands(ctx, l.read)
	if err != nil {
		return report, err
	}
	for _, e := range commands {
		if err := l.requeueCommand(ctx, e, dryRun, &report); err != nil {
			return report, err
		}
	}
	return report, nil
}

func (l *Log) replayEvents(ctx context.Context, id int64, dryRun bool) (projection.ReplayReport, error) {
	if l.lock != nil {
		l.lock.Lock()
		defer l.lock.Unlock()
	}
	report, err := projection.Replay(ctx, l.read, projection.Live, l.decoder(), id, dryRun)
	if err != nil || dryRun {
		return report, err
	}
	return report, l.onDashboard(ctx, report)
}

// requeueCommand replays a command entry: it sends the command to the
// command bus again and marks the entry replayed. What becomes of the
// command (applied, rejected, parked again) its status tells.
func (l *Log) requeueCommand(ctx context.Context, e projection.ErrorEntry, dryRun bool, report *projection.ReplayReport) error {
	step := projection.ReplayStep{EntryID: e.ID, OrderID: e.OrderID, Type: e.Type, Result: projection.ReplayApplied}
	what := fmt.Sprintf("%s command %s", e.Type, e.EventID)
	if dryRun {
		step.Text = "would re-queue " + what
		report.Applied++
		report.Steps = append(report.Steps, step)
		return nil
	}
	if l.requeue == nil {
		return order.Errorf(order.EINVALID, "entry %d is a command: re-queue it through a running app (the admin API or page), or give this tool the bus (--nats-url)", e.ID)
	}
	envelope, err := envelopeBytes(e.Envelope)
	if err != nil {
		return err
	}
	if err := l.requeue.Requeue(ctx, e.EventID, e.OrderID, e.Type, envelope); err != nil {
		return err
	}
	if err := projection.MarkReplayed(ctx, l.read, e.ID); err != nil {
		return err
	}
	step.Text = "re-queued " + what
	report.Applied++
	report.Steps = append(report.Steps, step)
	return nil
}

// Discard gives up on entry id instead of replaying it: the entry is marked
// discarded and no longer holds its order's later events back. The order is
// then synced from the database of record (which has the change the
// discarded event described) and its held events are replayed, so that it
// does not wait behind a gap no event will fill. ENOTFOUND for an unknown
// entry, ECONFLICT for one that is neither parked nor held.
func (l *Log) Discard(ctx context.Context, id int64) (projection.ReplayReport, error) {
	if l.lock != nil {
		l.lock.Lock()
		defer l.lock.Unlock()
	}
	e, err := projection.Discard(ctx, l.read, id)
	if err != nil || e.Kind != projection.KindEvent {
		return projection.ReplayReport{}, err
	}
	if l.write != nil {
		if err := projection.ReconcileOrder(ctx, l.write, l.read, projection.Live, e.OrderID); err != nil {
			return projection.ReplayReport{}, fmt.Errorf("sync order %s after discarding entry %d: %w", e.OrderID, id, err)
		}
		if err := projection.SyncDashboardOrder(ctx, l.write, l.read, e.OrderID, e.OrderVersion); err != nil {
			return projection.ReplayReport{}, fmt.Errorf("sync the dashboard's order %s after discarding entry %d: %w", e.OrderID, id, err)
		}
	}
	next, found, err := projection.Waiting(ctx, l.read, e.OrderID)
	if err != nil || !found {
		return projection.ReplayReport{}, err
	}
	return projection.Replay(ctx, l.read, projection.Live, l.decoder(), next, false)
}

// decode reads an entry's envelope as the projector reads a
// message.
func decode(envelope []byte) (order.Event, error) {
	if strings.HasPrefix(string(envelope), rawPrefix) {
		return order.Event{}, errors.New("the message is not text, so no version of this code can read it")
	}
	return changelog.Unmarshal(envelope)
}

// Readable reports why an entry's envelope cannot be read as an event, or
// nil if it can: e.g. a schema version this code does not know.
func Readable(e projection.ErrorEntry) error {
	_, err := decode([]byte(e.Envelope))
	return err
}

// rawPrefix marks an envelope that was not UTF-8 text (the error log keeps
// text) and is stored base64-encoded.
const rawPrefix = "base64:"

// envelopeBytes is the payload envelopeText kept.
func envelopeBytes(text string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(text, rawPrefix); ok {
		return base64.StdEncoding.DecodeString(rest)
	}
	return []byte(text), nil
}

// envelopeText is how the error log keeps a message's payload: as is if it
// is text, base64-encoded after rawPrefix if not.
func envelopeText(payload []byte) string {
	if utf8.Valid(payload) && !strings.ContainsRune(string(payload), 0) && !strings.HasPrefix(string(payload), rawPrefix) {
		return string(payload)
	}
	return rawPrefix + base64.StdEncoding.EncodeToString(payload)
}
