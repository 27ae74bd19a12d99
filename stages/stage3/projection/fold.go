package projection

import (
	"context"
	"fmt"
	"slices"

	"github.com/staircase/staircase/internal/order"
)

// Fold applies events to orders in memory, with Apply's rules, one order
// after another, and writes the rows each order ends with in bulk: a
// rebuild, the only writer of its shadow tables, reads the change log by
// order (changelog.EachByOrder) and so writes every order's row once, when
// its last event is folded, and each event's history row — nothing read
// back from the tables, nothing written twice. An order's events must come
// together and in version order: an order met again after another one
// would be written twice, which the tables' keys refuse. A Fold holds the
// order it is folding and the rows not written yet; Flush writes them.
type Fold struct {
	t       Tables
	cur     *folded
	views   []*view
	history []*history
}

// folded is an order as its events so far left it; o is nil while the
// order has none applied.
type folded struct {
	id      order.ID
	o       *order.Order
	deleted bool
}

// NewFold returns an empty fold into tables t.
func NewFold(t Tables) *Fold {
	return &Fold{t: t}
}

// Apply folds e into its order in memory, as Apply would project it onto
// tables that have only the order's earlier events: an event at or below
// the order's version, or of a deleted order, is a duplicate; the next one
// is applied through the domain, with its history row; a later one fails
// with ErrGap, one the domain refuses with ErrRefused. A failed event
// leaves the order as it was. An event of another order than the last
// event's ends that order: its row is ready to be written.
func (f *Fold) Apply(e order.Event) (Outcome, error) {
	if f.cur == nil || f.cur.id != e.OrderID {
		if err := f.End(); err != nil {
			return 0, err
		}
		f.cur = &folded{id: e.OrderID}
	}
	if e.OrderVersion < 1 {
		return 0, fmt.Errorf("%w: event %s of order %s has no version", ErrRefused, e.Type, e.OrderID)
	}
	cur := f.cur
	o, stored := order.Order{}, 0
	if cur.o != nil {
		if cur.deleted {
			return OutcomeDuplicate, nil
		}
		o, stored = *cur.o, cur.o.Version
		o.Lines = slices.Clone(o.Lines)
	}
	switch {
	case e.OrderVersion <= stored:
		return OutcomeDuplicate, nil
	case e.OrderVersion > stored+1:
		return 0, fmt.Errorf("%w: %s v%d of order %s arrived while the read side is at v%d", ErrGap, e.Type, e.OrderVersion, e.OrderID, stored)
	}
	if err := o.Apply(e); err != nil {
		return 0, fmt.Errorf("project %s v%d of order %s: %w: %w", e.Type, e.OrderVersion, e.OrderID, ErrRefused, err)
	}
	_, cur.deleted = e.Payload.(order.OrderDeleted)
	cur.o = &o
	f.history = append(f.history, &history{OrderID: e.OrderID, Version: e.OrderVersion, Type: e.Type,
		OccurredAt: e.OccurredAt.UTC(), Text: historyText(e, &o)})
	return OutcomeApplied, nil
}

// End ends the order being folded: its row, if it has one, is ready to be
// written. Call it after the last event.
func (f *Fold) End() error {
	cur := f.cur
	f.cur = nil
	if cur == nil || cur.o == nil {
		return nil
	}
	v, err := viewOf(cur.o, cur.deleted)
	if err != nil {
		return err
	}
	f.views = append(f.views, v)
	return nil
}

// Pending is how many rows are ready to be written.
func (f *Fold) Pending() int {
	return len(f.views) + len(f.history)
}

// Ready hands over the rows that are ready, as a fold of their own for
// Flush (on another goroutine, say), and goes on folding the order it is
// folding.
func (f *Fold) Ready() *Fold {
	r := &Fold{t: f.t, views: f.views, history: f.history}
	f.views, f.history = nil, nil
	return r
}

// Flush writes the rows that are ready through b and forgets them; the
// order being folded stays.
func (f *Fold) Flush(ctx context.Context, b *Bulk) error {
	if err := b.insertViews(ctx, f.t.Orders, f.views); err != nil {
		return err
	}
	if err := b.insertHistory(ctx, f.t.History, f.history); err != nil {
		return err
	}
	clear(f.views)
	clear(f.history)
	f.views, f.history = f.views[:0], f.history[:0]
	return nil
}
