package projection

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// Outcome is what Apply did with an event.
type Outcome int

// The outcomes of Apply.
const (
	// OutcomeApplied: the event was the order's next version and is now in
	// the read tables.
	OutcomeApplied Outcome = iota + 1
	// OutcomeDuplicate: the read tables already have this version or a
	// later one (or the order is deleted); nothing changed.
	OutcomeDuplicate
)

func (o Outcome) String() string {
	switch o {
	case OutcomeApplied:
		return "applied"
	case OutcomeDuplicate:
		return "duplicate"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// ErrGap is wrapped by Apply's error for an event that is not the order's
// next version: an earlier one has not arrived yet. The caller retries it
// later; a gap is never skipped.
var ErrGap = errors.New("an earlier event of the order is missing")

// ErrRefused is wrapped by Apply's error for an event that the order's
// rules refuse in its place (order.Order.Apply): an OrderPlaced at version
// 2, an event without a version. Retrying it cannot help.
var ErrRefused = errors.New("the order's rules refuse the event")

// errRaced means another writer changed the order between our read and our
// write; Apply starts over and will find the event a duplicate or the next.
var errRaced = errors.New("the order changed meanwhile")

// view is a row of the order_views table.
type view struct {
	bun.BaseModel `bun:"table:order_views,alias:v"`

	ID         order.ID     `bun:"id,pk"`
	Customer   string       `bun:"customer"`
	Address    string       `bun:"address"`
	Currency   string       `bun:"currency"`
	Status     order.Status `bun:"status"`
	Version    int          `bun:"version"`
	LineCount  int          `bun:"line_count"`
	TotalCents int64        `bun:"total_cents"`
	Lines      string       `bun:"lines"` // JSON array of order.Line
	CreatedAt  time.Time    `bun:"created_at"`
	UpdatedAt  time.Time    `bun:"updated_at"`
	Deleted    bool         `bun:"deleted"`
}

// history is a row of the order_history table.
type history struct {
	bun.BaseModel `bun:"table:order_history,alias:h"`

	OrderID    order.ID  `bun:"order_id,pk"`
	Version    int       `bun:"version,pk"`
	Type       string    `bun:"type"`
	OccurredAt time.Time `bun:"occurred_at"`
	Text       string    `bun:"text"`
}

func viewOf(o *order.Order, deleted bool) (*view, error) {
	lines := o.Lines
	if lines == nil {
		lines = []order.Line{}
	}
	b, err := json.Marshal(lines)
	if err != nil {
		return nil, fmt.Errorf("encode lines of order %s: %w", o.ID, err)
	}
	return &view{
		ID: o.ID, Customer: o.Customer, Address: o.Address, Currency: o.Currency, Status: o.Status,
		Version: o.Version, LineCount: len(o.Lines), TotalCents: o.TotalCents(), Lines: string(b),
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC(), Deleted: deleted,
	}, nil
}

func (v *view) order() (*order.Order, error) {
	var lines []order.Line
	if err := json.Unmarshal([]byte(v.Lines), &lines); err != nil {
		return nil, fmt.Errorf("decode lines of order %s: %w", v.ID, err)
	}
	return &order.Order{
		ID: v.ID, Customer: v.Customer, Address: v.Address, Currency: v.Currency, Lines: lines,
		Status: v.Status, Version: v.Version, CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC(),
	}, nil
}

// Apply projects one event into the tables t of the read database, in one
// transaction, idempotently and in order per order:
//
//   - an event at or below the stored version is a duplicate and changes
//     nothing (OutcomeDuplicate); so is any event of a deleted order, whose
//     row stays as a tombstone — deletion is final;
//   - the stored version's next event is applied through the domain
//     (order.Order.Apply), with a history row (OutcomeApplied);
//   - a later event returns an error wrapping ErrGap, for the caller to
//     retry once the missing events are in.
//
// Any other error (an event the domain refuses, a database error) is the
// caller's to retry or park. Apply is safe to call concurrently for the
// same order from several goroutines or processes: the write is made only
// if the row is still at the version read (or, for OrderPlaced, absent), and
// otherwise the whole step starts over.
func Apply(ctx context.Context, db *bun.DB, t Tables, e order.Event) (Outcome, error) {
	for attempt := 1; ; attempt++ {
		var out Outcome
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			var err error
			out, err = apply(ctx, tx, t, e)
			return err
		})
		if errors.Is(err, errRaced) && attempt < 10 {
			continue
		}
		if err != nil {
			return 0, err
		}
		return out, nil
	}
}

// Batch applies many events to the read tables in the caller's
// transaction, so that they share one commit (the projector's batches),
// with Apply's rules. Each event's order row is written at once, so that
// the order's next event finds it; the history rows, which no event reads,
// are kept and written together (Write), last in the transaction. A race
// with another writer starts an event's step over within the transaction,
// which then reads the other writer's row: on PostgreSQL each statement of
// a read-committed transaction sees what committed before it, and on
// SQLite the transaction holds the only write lock from its start, so no
// race can happen.
type Batch struct {
	t       Tables
	history []*history
}

// NewBatch returns an empty batch for the tables t.
func NewBatch(t Tables) *Batch { return &Batch{t: t} }

// Apply applies e in tx, keeping its history row for Write. An error
// wrapping ErrGap or ErrRefused is found before anything is written, and
// leaves tx and the batch as they were; any other may leave tx
// half-written, for the caller to roll back (and Discard the batch).
func (b *Batch) Apply(ctx context.Context, tx bun.IDB, e order.Event) (Outcome, error) {
	for attempt := 1; ; attempt++ {
		out, h, err := applyView(ctx, tx, b.t, e)
		if errors.Is(err, errRaced) && attempt < 10 {
			continue
		}
		if h != nil {
			b.history = append(b.history, h)
		}
		return out, err
	}
}

// Write writes the events' history rows in tx, in one statement, and
// empties the batch for the next transaction.
func (b *Batch) Write(ctx context.Context, tx bun.IDB) error {
	rows := b.history
	b.history = nil
	return insertHistory(ctx, tx, b.t, rows...)
}

// Discard forgets the events' history rows, when their transaction rolled
// back.
func (b *Batch) Discard() { b.history = nil }

// apply is Apply's step inside a transaction.
func apply(ctx context.Context, tx bun.IDB, t Tables, e order.Event) (Outcome, error) {
	out, h, err := applyView(ctx, tx, t, e)
	if err != nil || h == nil {
		return out, err
	}
	if err := insertHistory(ctx, tx, t, h); err != nil {
		return 0, err
	}
	return out, nil
}

// applyView is apply without the history row, which it returns for the
// caller to write (nil when the event changed nothing).
func applyView(ctx context.Context, tx bun.IDB, t Tables, e order.Event) (Outcome, *history, error) {
	if e.OrderVersion < 1 {
		return 0, nil, fmt.Errorf("%w: event %s of order %s has no version", ErrRefused, e.Type, e.OrderID)
	}
	if e.OrderVersion == 1 {
		if out, h, placed, err := placeView(ctx, tx, t, e); placed || err != nil {
			return out, h, err
		}
	}
	cur, err := loadView(ctx, tx, t, e.OrderID)
	if err != nil {
		return 0, nil, err
	}
	o := &order.Order{}
	stored := 0
	if cur != nil {
		if cur.Deleted {
			return OutcomeDuplicate, nil, nil
		}
		stored = cur.Version
		if o, err = cur.order(); err != nil {
			return 0, nil, err
		}
	}
	switch {
	case e.OrderVersion <= stored:
		return OutcomeDuplicate, nil, nil
	case e.OrderVersion > stored+1:
		return 0, nil, fmt.Errorf("%w: %s v%d of order %s arrived while the read side is at v%d", ErrGap, e.Type, e.OrderVersion, e.OrderID, stored)
	}
	if err := o.Apply(e); err != nil {
		return 0, nil, fmt.Errorf("project %s v%d of order %s: %w: %w", e.Type, e.OrderVersion, e.OrderID, ErrRefused, err)
	}
	_, deleted := e.Payload.(order.OrderDeleted)
	row, err := viewOf(o, deleted)
	if err != nil {
		return 0, nil, err
	}
	var res sql.Result
	if cur == nil {
		res, err = tx.NewInsert().Model(row).ModelTableExpr("?", bun.Ident(t.Orders)).
			On("CONFLICT (id) DO NOTHING").Exec(ctx)
	} else {
		res, err = tx.NewUpdate().Model(row).ModelTableExpr("?", bun.Ident(t.Orders)).
			ExcludeColumn("id").
			Where("id = ?", e.OrderID).Where("version = ?", stored).Exec(ctx)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("write order %s v%d: %w", e.OrderID, e.OrderVersion, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, nil, errRaced
	}
	h := &history{OrderID: e.OrderID, Version: e.OrderVersion, Type: e.Type, OccurredAt: e.OccurredAt.UTC(), Text: historyText(e, o)}
	return OutcomeApplied, h, nil
}

// placeView applies an order's first event without reading its row first,
// which saves a statement (on PostgreSQL a round trip) for every order
// placed: the row is inserted unless it exists, and an order that has a row
// has a version of at least 1, so the event is then a duplicate. An event
// the order's rules refuse as a first one is left to the usual path
// (placed false), which tells a duplicate from a refusal.
func placeView(ctx context.Context, tx bun.IDB, t Tables, e order.Event) (out Outcome, h *history, placed bool, err error) {
	o := &order.Order{}
	if o.Apply(e) != nil {
		return 0, nil, false, nil
	}
	_, deleted := e.Payload.(order.OrderDeleted)
	row, err := viewOf(o, deleted)
	if err != nil {
		return 0, nil, true, err
	}
	res, err := tx.NewInsert().Model(row).ModelTableExpr("?", bun.Ident(t.Orders)).
		On("CONFLICT (id) DO NOTHING").Exec(ctx)
	if err != nil {
		return 0, nil, true, fmt.Errorf("write order %s v%d: %w", e.OrderID, e.OrderVersion, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return OutcomeDuplicate, nil, true, nil
	}
	h = &history{OrderID: e.OrderID, Version: e.OrderVersion, Type: e.Type, OccurredAt: e.OccurredAt.UTC(), Text: historyText(e, o)}
	return OutcomeApplied, h, true, nil
}

// loadView reads an order's row, tombstone included; nil if there is none.
func loadView(ctx context.Context, db bun.IDB, t Tables, id order.ID) (*view, error) {
	v := new(view)
	err := db.NewSelect().Model(v).ModelTableExpr("? AS v", bun.Ident(t.Orders)).Where("v.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read order %s: %w", id, err)
	}
	return v, nil
}

func insertHistory(ctx context.Context, db bun.IDB, t Tables, rows ...*history) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := db.NewInsert().Model(&rows).ModelTableExpr("?", bun.Ident(t.History)).
		On("CONFLICT (order_id, version) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// historyText is the history row a person reads for an event; o is the
// order after it.
func historyText(e order.Event, o *order.Order) string {
	switch p := e.Payload.(type) {
	case order.OrderPlaced:
		return "Placed with " + linesAndTotal(o)
	case order.OrderLinesChanged:
		return "Lines changed: " + linesAndTotal(o)
	case order.OrderShipped:
		return "Shipped"
	case order.OrderDelivered:
		return "Delivered"
	case order.OrderCancelled:
		if p.Reason != "" {
			return "Cancelled: " + p.Reason
		}
		return "Cancelled"
	case order.OrderDeleted:
		return "Deleted"
	}
	return e.Type
}

func linesAndTotal(o *order.Order) string {
	n := strconv.Itoa(len(o.Lines)) + " lines"
	if len(o.Lines) == 1 {
		n = "1 line"
	}
	return n + ", " + order.FormatMoney(o.TotalCents(), o.Currency)
}
