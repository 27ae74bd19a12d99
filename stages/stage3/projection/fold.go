package projection

import (
	"context"
	"fmt"
	"slices"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// Fold applies events to orders in memory, with Apply's rules, and writes
// the rows they end with in bulk: a rebuild, the only writer of its shadow
// tables, replays a chunk of the change log at the speed of multi-row
// inserts rather than a read and a write per event. A Fold holds only the
// orders of the chunk it was loaded with; Flush writes them and forgets
// them.
type Fold struct {
	t       Tables
	orders  map[order.ID]*folded
	history []*history
}

// folded is an order as the events of the chunk left it.
type folded struct {
	o       *order.Order
	deleted bool
	changed bool
}

// NewFold returns an empty fold into tables t.
func NewFold(t Tables) *Fold {
	return &Fold{t: t, orders: map[order.ID]*folded{}}
}

// foldBatch is how many rows one statement reads or writes: within
// SQLite's 32,766 bound parameters for order rows of 12 columns.
const foldBatch = 500

// Load reads the stored rows of the orders ids that the fold does not hold
// yet, foldBatch at a time. Apply treats an order not loaded as absent.
func (f *Fold) Load(ctx context.Context, db bun.IDB, ids []order.ID) error {
	var missing []order.ID
	for _, id := range ids {
		if _, ok := f.orders[id]; !ok {
			missing = append(missing, id)
		}
	}
	for part := range slices.Chunk(missing, foldBatch) {
		var views []*view
		if err := db.NewSelect().Model(&views).ModelTableExpr("? AS v", bun.Ident(f.t.Orders)).
			Where("v.id IN (?)", bun.In(part)).Scan(ctx); err != nil {
			return fmt.Errorf("read %d orders: %w", len(part), err)
		}
		for _, v := range views {
			o, err := v.order()
			if err != nil {
				return err
			}
			f.orders[v.ID] = &folded{o: o, deleted: v.Deleted}
		}
	}
	return nil
}

// Apply folds e into its order in memory, as Apply would project it: an
// event at or below the order's version, or of a deleted order, is a
// duplicate; the next one is applied through the domain, with its history
// row; a later one fails with ErrGap, one the domain refuses with
// ErrRefused. A failed event leaves the order as it was.
func (f *Fold) Apply(e order.Event) (Outcome, error) {
	if e.OrderVersion < 1 {
		return 0, fmt.Errorf("%w: event %s of order %s has no version", ErrRefused, e.Type, e.OrderID)
	}
	cur := f.orders[e.OrderID]
	o, stored := order.Order{}, 0
	if cur != nil {
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
	if cur == nil {
		cur = &folded{}
		f.orders[e.OrderID] = cur
	}
	_, cur.deleted = e.Payload.(order.OrderDeleted)
	cur.o, cur.changed = &o, true
	f.history = append(f.history, &history{OrderID: e.OrderID, Version: e.OrderVersion, Type: e.Type,
		OccurredAt: e.OccurredAt.UTC(), Text: historyText(e, &o)})
	return OutcomeApplied, nil
}

// Flush writes the orders the fold changed and their history rows,
// foldBatch rows per statement, and empties the fold.
func (f *Fold) Flush(ctx context.Context, db bun.IDB) error {
	views := make([]*view, 0, len(f.orders))
	for _, c := range f.orders {
		if !c.changed {
			continue
		}
		v, err := viewOf(c.o, c.deleted)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	for part := range slices.Chunk(views, foldBatch) {
		q := db.NewInsert().Model(&part).ModelTableExpr("?", bun.Ident(f.t.Orders)).On("CONFLICT (id) DO UPDATE")
		for _, col := range []string{"customer", "address", "currency", "status", "version", "line_count",
			"total_cents", "lines", "created_at", "updated_at", "deleted"} {
			q = q.Set("? = EXCLUDED.?", bun.Ident(col), bun.Ident(col))
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("write %d orders: %w", len(part), err)
		}
	}
	for part := range slices.Chunk(f.history, 2*foldBatch) {
		if err := insertHistory(ctx, db, f.t, part...); err != nil {
			return err
		}
	}
	clear(f.orders)
	f.history = f.history[:0]
	return nil
}
