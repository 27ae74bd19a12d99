package stage3

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/commandbus"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// ErrorLog is stage 3's error log (its dead letters) as an operator sees
// it: list, inspect, and replay — or dry-run a replay of — the events the
// projector parked and the ones held behind them. The admin API and the
// `staircase dlq` command use it.
type ErrorLog struct {
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
}

// NewErrorLog returns the error log kept in the read database read, for a
// tool that runs without the projector (the CLI); write is the database of
// record (nil: a discard does not sync the order from it), requeue what
// sends a command entry to the command bus again (nil: command entries
// cannot be replayed).
func NewErrorLog(read, write *bun.DB, requeue Requeuer) *ErrorLog {
	return &ErrorLog{read: read, write: write, requeue: requeue}
}

// Requeuer sends a command the error log kept to the command bus again
// (commandbus.Bus.Requeue).
type Requeuer interface {
	Requeue(ctx context.Context, commandID uuid.UUID, orderID order.ID, typ string, envelope []byte) error
}

// ErrorLog returns the stage's error log.
func (s *Stage) ErrorLog() *ErrorLog {
	return &ErrorLog{read: s.cfg.Read, write: s.cfg.Write, requeue: s.bus, lock: &s.projector.mu}
}

// Statuses are the statuses an error log entry can have, for filters.
var Statuses = []string{projection.StatusParked, projection.StatusHeld, projection.StatusReplayed, projection.StatusDiscarded}

// List lists the entries, oldest first; with status, only those with that
// status (an unknown status is an EINVALID error).
func (l *ErrorLog) List(ctx context.Context, status string) ([]projection.ErrorEntry, error) {
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
func (l *ErrorLog) Entry(ctx context.Context, id int64) (projection.ErrorEntry, error) {
	if id <= 0 {
		return projection.ErrorEntry{}, order.Errorf(order.ENOTFOUND, "error log entry %d not found", id)
	}
	return projection.ErrorEntryByID(ctx, l.read, id)
}

// Replay applies again the parked and held events of the order of entry id
// (projection.ReplayAll: of every order in the log), in version order, and
// reports what became of each; with dryRun it changes nothing and reports
// what would happen. See projection.Replay.
func (l *ErrorLog) Replay(ctx context.Context, id int64, dryRun bool) (projection.ReplayReport, error) {
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

func (l *ErrorLog) replayEvents(ctx context.Context, id int64, dryRun bool) (projection.ReplayReport, error) {
	if l.lock != nil {
		l.lock.Lock()
		defer l.lock.Unlock()
	}
	return projection.Replay(ctx, l.read, projection.Live, decodeEnvelope, id, dryRun)
}

// requeueCommand replays a command entry: it sends the command to the
// command bus again and marks the entry replayed. What becomes of the
// command (applied, rejected, parked again) its status tells.
func (l *ErrorLog) requeueCommand(ctx context.Context, e projection.ErrorEntry, dryRun bool, report *projection.ReplayReport) error {
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
func (l *ErrorLog) Discard(ctx context.Context, id int64) (projection.ReplayReport, error) {
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
	}
	next, found, err := projection.Waiting(ctx, l.read, e.OrderID)
	if err != nil || !found {
		return projection.ReplayReport{}, err
	}
	return projection.Replay(ctx, l.read, projection.Live, decodeEnvelope, next, false)
}

// relayParker is the relay's Parker: the error log, where a change-log row
// the relay cannot read or publish is parked raw, so that a version of the
// code that can read it replays it, and its order's later events are held
// behind it.
type relayParker struct {
	read   *bun.DB
	parked *metrics.Counter
}

func (p relayParker) ParkEntry(ctx context.Context, e changelog.Entry, cause error) error {
	envelope := e.Envelope
	if envelope == nil {
		var err error
		if envelope, err = changelog.Marshal(e.Event); err != nil {
			return err
		}
	}
	if err := projection.SetAside(ctx, p.read, e.Event, []byte(envelopeText(envelope)), fmt.Errorf("relay: %w", cause), 1); err != nil {
		return err
	}
	p.parked.Inc()
	return nil
}

// decodeEnvelope reads an entry's envelope as the projector reads a
// message.
func decodeEnvelope(envelope []byte) (order.Event, error) {
	if strings.HasPrefix(string(envelope), rawPrefix) {
		return order.Event{}, errors.New("the message is not text, so no version of this code can read it")
	}
	return changelog.Unmarshal(envelope)
}

// Readable reports why an entry's envelope cannot be read as an event, or
// nil if it can: e.g. a schema version this code does not know.
func Readable(e projection.ErrorEntry) error {
	_, err := decodeEnvelope([]byte(e.Envelope))
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

// commandParker is the command bus's error log: a command it gives up on
// is parked as a command entry, to be re-queued or discarded.
type commandParker struct{ read *bun.DB }

func (p commandParker) ParkCommand(ctx context.Context, c commandbus.Parked) error {
	return projection.ParkCommand(ctx, p.read, c.CommandID, c.OrderID, c.Type, []byte(envelopeText(c.Envelope)), c.Err, c.Attempts)
}

// envelopeText is how the error log keeps a message's payload: as is if it
// is text, base64-encoded after rawPrefix if not.
func envelopeText(payload []byte) string {
	if utf8.Valid(payload) && !strings.ContainsRune(string(payload), 0) && !strings.HasPrefix(string(payload), rawPrefix) {
		return string(payload)
	}
	return rawPrefix + base64.StdEncoding.EncodeToString(payload)
}

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
	e.OrderID = firstUUID(m.Metadata.Get(metaOrderID), env.OrderID)
	if v, err := strconv.Atoi(m.Metadata.Get(metaVersion)); err == nil && v > 0 {
		e.OrderVersion = v
	} else {
		e.OrderVersion = max(env.OrderVersion, 0)
	}
	e.Type = m.Metadata.Get(metaType)
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

// recordedVersion is the version of an order in the database of record, or
// for an order deleted there the version of its OrderDeleted event in the
// change log (history); found is false if the record knows no such order.
func recordedVersion(ctx context.Context, write bun.IDB, id order.ID, history []order.Event) (version int, found bool, err error) {
	err = write.NewSelect().TableExpr("orders").Column("version").Where("id = ?", id).Scan(ctx, &version)
	switch {
	case err == nil:
		return version, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, false, fmt.Errorf("read version of order %s: %w", id, err)
	}
	for _, h := range history {
		if h.Type == (order.OrderDeleted{}).EventType() {
			return h.OrderVersion, true, nil
		}
	}
	return 0, false, nil
}

// EventMessage wraps an event for the bus exactly as the relay does (the
// message UUID is the event ID; metadata order_id, order_version, type),
// for tools and tests that publish events themselves.
func EventMessage(e order.Event) (*message.Message, error) { return eventMessage(e) }

// EventsTopic is the events topic of the Staircase whose bus namespace is
// namespace.
func EventsTopic(namespace string) string { return namespace + messaging.EventsTopic }
