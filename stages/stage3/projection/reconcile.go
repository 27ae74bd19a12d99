package projection

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/command"
)

// reconcileBatch is how many orders Reconcile reads from the database of
// record at a time (a variable only so that tests can make batches small).
var reconcileBatch = 500

// SyncedType is the history type of the rows Reconcile writes: changes the
// read side learned from the database of record rather than from an event.
const SyncedType = "Synced"

// Reconcile brings the tables t of the read database up to date with the
// database of record's current state — how stage 3 is entered live after
// stages 0–2 changed orders without events, and how a shadow copy is
// rebuilt. It walks the write database's orders in ID order, a batch at a
// time, and
//
//   - copies every order whose version is above the read side's (or that
//     the read side lacks) over the read side's row, with a history row
//     "Synced from the database of record at vN";
//   - turns every read-side order that no longer exists in the database of
//     record into a tombstone one version above the stored one, so that a
//     redelivered event of it stays a no-op.
//
// Both writes are guarded by version, so Reconcile may run while the
// projector applies events. progress, if not nil, is called after each
// batch with the orders done so far and the total (counted at the start,
// raised if orders were added meanwhile).
//
// The database of record keeps no trace of deleted orders, so an order
// deleted before the read side ever saw it leaves no tombstone: rebuilt from
// the database of record alone, a read side would take a late redelivery of
// such an order's events as new.
func Reconcile(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, progress func(done, total int64)) error {
	n, err := write.NewSelect().Model((*command.Order)(nil)).Count(ctx)
	if err != nil {
		return fmt.Errorf("count orders: %w", err)
	}
	total, done := int64(n), int64(0)
	report := func() {
		if progress != nil {
			progress(done, max(total, done))
		}
	}
	report()
	// The next range is read while the last one is written: the ranges
	// are apart, so what one writes changes nothing the other reads.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ranges := make(chan behindRange, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(ranges)
		var after *order.ID
		for {
			var r behindRange
			var err error
			r.ids, r.stored, r.rows, err = readBehind(ctx, write, read, t, after)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case ranges <- r:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
			if len(r.ids) < reconcileBatch {
				readErr <- nil
				return
			}
			after = &r.ids[len(r.ids)-1].ID
		}
	}()
	for r := range ranges {
		if err := reconcileBatchRange(ctx, write, read, t, r.ids, r.stored, r.rows); err != nil {
			cancel()
			for range ranges { // let the reader end
			}
			<-readErr
			return err
		}
		done += int64(len(r.ids))
		report()
	}
	if err := <-readErr; err != nil {
		return err
	}
	return reconcileUnseen(ctx, write, read, t)
}

// behindRange is a range of orders as readBehind found it.
type behindRange struct {
	ids    []writeVersion
	stored []storedVersion
	rows   []*command.Order
}

// writeVersion is an order's version in the database of record.
type writeVersion struct {
	ID      order.ID `bun:"id"`
	Version int      `bun:"version"`
}

// readBehind reads the IDs and versions of the database of record's next
// batch of orders after after (from the start if nil), in ID order, and in
// full — with their lines — only the orders the tables t have at a lower
// version or not at all: a read side that is up to date costs a scan of
// versions on each side, not a read of every order and line. It reads both
// from the database of record in one snapshot.
func readBehind(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, after *order.ID) ([]writeVersion, []storedVersion, []*command.Order, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if sqlstore.DialectName(write) == sqlstore.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	var ids []writeVersion
	var stored []storedVersion
	var rows []*command.Order
	err := write.RunInTx(ctx, opts, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().Model((*command.Order)(nil)).Column("o.id", "o.version").OrderExpr("o.id").Limit(int64(reconcileBatch))
		if after != nil {
			q = q.Where("o.id > ?", *after)
		}
		if err := q.Scan(ctx, &ids); err != nil {
			return fmt.Errorf("read order versions: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		// The read side's orders of the same range: up to the last ID
		// read, or with no upper bound after a short (last) batch.
		upTo := ids[len(ids)-1].ID
		sq := read.NewSelect().TableExpr("? AS v", bun.Ident(t.Orders)).ColumnExpr("v.id, v.version, v.deleted")
		if len(ids) == reconcileBatch {
			sq = sq.Where("v.id <= ?", upTo)
		}
		if after != nil {
			sq = sq.Where("v.id > ?", *after)
		}
		if err := sq.Scan(ctx, &stored); err != nil {
			return fmt.Errorf("read versions: %w", err)
		}
		have := make(map[order.ID]int, len(stored))
		for _, s := range stored {
			have[s.ID] = s.Version
		}
		var behind []order.ID
		for _, w := range ids {
			if v, ok := have[w.ID]; !ok || v < w.Version {
				behind = append(behind, w.ID)
			}
		}
		switch {
		case len(behind) == 0:
			return nil
		case 2*len(behind) >= len(ids):
			// Most of the range: read it whole, as a range.
			var err error
			rows, err = readOrders(ctx, tx, after, &upTo)
			return err
		}
		var err error
		rows, err = readOrdersByID(ctx, tx, behind)
		return err
	})
	if err == nil && len(ids) == 0 {
		// Nothing left in the database of record: the read side's orders
		// past after are all candidates for deletion.
		sq := read.NewSelect().TableExpr("? AS v", bun.Ident(t.Orders)).ColumnExpr("v.id, v.version, v.deleted")
		if after != nil {
			sq = sq.Where("v.id > ?", *after)
		}
		if err := sq.Scan(ctx, &stored); err != nil {
			return nil, nil, nil, fmt.Errorf("read versions: %w", err)
		}
	}
	return ids, stored, rows, err
}

// readOrders reads the database of record's orders in (after, upTo], with
// their lines.
func readOrders(ctx context.Context, tx bun.Tx, after, upTo *order.ID) ([]*command.Order, error) {
	var rows []*command.Order
	q := tx.NewSelect().Model(&rows).OrderExpr("o.id").Where("o.id <= ?", *upTo)
	if after != nil {
		q = q.Where("o.id > ?", *after)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	// The lines of the same range of IDs rather than of a list of 500:
	// PostgreSQL plans a range on the lines' key as an index scan even
	// before the tables were analyzed, and a long IN list as a full scan.
	var lines []*command.Line
	lq := tx.NewSelect().Model(&lines).Where("l.order_id <= ?", rows[len(rows)-1].ID).OrderExpr("l.order_id, l.position")
	if after != nil {
		lq = lq.Where("l.order_id > ?", *after)
	}
	if err := lq.Scan(ctx); err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	return withLines(rows, lines), nil
}

// readOrdersByID reads the database of record's orders ids, with their
// lines, a few at a time: each statement's IN list stays short enough for
// PostgreSQL to plan it on the lines' key.
func readOrdersByID(ctx context.Context, tx bun.Tx, ids []order.ID) ([]*command.Order, error) {
	var out []*command.Order
	for part := range slices.Chunk(ids, 50) {
		var rows []*command.Order
		if err := tx.NewSelect().Model(&rows).Where("o.id IN (?)", bun.In(part)).OrderExpr("o.id").Scan(ctx); err != nil {
			return nil, fmt.Errorf("read orders: %w", err)
		}
		var lines []*command.Line
		if err := tx.NewSelect().Model(&lines).Where("l.order_id IN (?)", bun.In(part)).OrderExpr("l.order_id, l.position").
			Scan(ctx); err != nil {
			return nil, fmt.Errorf("read lines: %w", err)
		}
		out = append(out, withLines(rows, lines)...)
	}
	return out, nil
}

// withLines puts lines, in order, on their orders.
func withLines(rows []*command.Order, lines []*command.Line) []*command.Order {
	byID := make(map[order.ID]*command.Order, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, l := range lines {
		if r := byID[l.OrderID]; r != nil {
			r.Lines = append(r.Lines, l)
		}
	}
	return rows
}

// ReconcileOrder brings one order of the tables t up to date with the
// database of record, as Reconcile does for all: for the projector, when an
// order's missing versions will never come as events.
func ReconcileOrder(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, id order.ID) error {
	var rows []*command.Order
	o, fp, err := command.Load(ctx, write, id, false)
	switch {
	case err == nil:
		rows = append(rows, command.Row(o, fp))
	case order.ErrorCode(err) != order.ENOTFOUND:
		return err
	}
	var stored []storedVersion
	err = read.NewSelect().TableExpr("? AS v", bun.Ident(t.Orders)).ColumnExpr("v.id, v.version, v.deleted").
		Where("v.id = ?", id).Scan(ctx, &stored)
	if err != nil {
		return fmt.Errorf("read version of order %s: %w", id, err)
	}
	return reconcileRows(ctx, write, read, t, rows, map[order.ID]bool{id: len(rows) > 0}, stored, false)
}

// ReconcileGone marks order id deleted at version in the tables t, unless
// they have it at that version or above: for the projector, when the
// database of record no longer has an order whose event it holds and the
// read side never saw the order's earlier versions (they were written
// without events, and the order was deleted before a sync found it). The
// tombstone shows nothing and keeps the order's other events no-ops.
func ReconcileGone(ctx context.Context, read *bun.DB, t Tables, id order.ID, version int, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	row, err := viewOf(&order.Order{ID: id, Status: order.Placed, Version: version, CreatedAt: at, UpdatedAt: at}, true)
	if err != nil {
		return err
	}
	return read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return upsertViews(ctx, tx, t, []*view{row})
	})
}

// reconcileUnseen marks deleted, in the tables t, the orders that the
// change log has events of but that neither the database of record nor t
// has: orders changed while stage 3 was active, then deleted by a stage
// that records no events before the read side saw them. Their events may
// still be on the bus, and applied to a read side without a trace of them
// they would show a deleted order again. An order whose last event is its
// deletion is left to that event.
func reconcileUnseen(ctx context.Context, write bun.IDB, read *bun.DB, t Tables) error {
	// The orders the change log has and the database of record lacks, as
	// a difference of two index scans rather than a lookup per event; then
	// their events, of which each order's newest counts.
	var logged []struct {
		ID      order.ID  `bun:"order_id"`
		Version int       `bun:"version"`
		Type    string    `bun:"type"`
		At      time.Time `bun:"occurred_at"`
	}
	err := write.NewRaw(`SELECT c.order_id, c.order_version AS version, c.type, c.occurred_at FROM change_log AS c
		WHERE c.order_id IN (SELECT l.order_id FROM change_log AS l EXCEPT SELECT o.id FROM orders AS o)`).Scan(ctx, &logged)
	if err != nil {
		return fmt.Errorf("find the orders deleted without events: %w", err)
	}
	type unseen struct {
		ID      order.ID
		Version int
		At      time.Time
		deleted bool
	}
	newest := map[order.ID]*unseen{}
	for _, l := range logged {
		if u := newest[l.ID]; u == nil || l.Version > u.Version {
			newest[l.ID] = &unseen{ID: l.ID, Version: l.Version, At: l.At, deleted: l.Type == (order.OrderDeleted{}).EventType()}
		}
	}
	var gone []*unseen
	for _, u := range newest {
		if !u.deleted {
			gone = append(gone, u)
		}
	}
	slices.SortFunc(gone, func(a, b *unseen) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	for len(gone) > 0 {
		batch := gone[:min(len(gone), reconcileBatch)]
		gone = gone[len(batch):]
		ids := make([]order.ID, len(batch))
		for i, g := range batch {
			ids[i] = g.ID
		}
		var known []order.ID
		if err := read.NewSelect().TableExpr("? AS v", bun.Ident(t.Orders)).Column("v.id").Where("v.id IN (?)", bun.In(ids)).
			Scan(ctx, &known); err != nil {
			return fmt.Errorf("read versions: %w", err)
		}
		seen := make(map[order.ID]bool, len(known))
		for _, id := range known {
			seen[id] = true
		}
		var rows []*view
		for _, g := range batch {
			if seen[g.ID] {
				continue // Reconcile's tombstone, or the read side's own
			}
			at := g.At.UTC().Truncate(time.Microsecond)
			row, err := viewOf(&order.Order{ID: g.ID, Status: order.Placed, Version: g.Version, CreatedAt: at, UpdatedAt: at}, true)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		if len(rows) == 0 {
			continue
		}
		if err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return upsertViews(ctx, tx, t, rows)
		}); err != nil {
			return err
		}
	}
	return nil
}

// storedVersion is how far the read side has an order.
type storedVersion struct {
	ID      order.ID `bun:"id"`
	Version int      `bun:"version"`
	Deleted bool     `bun:"deleted"`
}

// reconcileBatchRange reconciles the read side's orders of a range of IDs,
// stored, with ids, the database of record's orders in that range, and
// rows, those of them the read side may lack.
func reconcileBatchRange(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, ids []writeVersion, stored []storedVersion, rows []*command.Order) error {
	inWrite := make(map[order.ID]bool, len(ids))
	for _, w := range ids {
		inWrite[w.ID] = true
	}
	// The whole-table sync of the live tables runs beside the projector.
	return reconcileRows(ctx, write, read, t, rows, inWrite, stored, t == Live)
}

// reconcileRows brings the read side's stored orders and the database of
// record's rows, taken from the same range of IDs, into line: inWrite
// holds every order of the range that the database of record has, rows
// those of them that may be ahead of the read side.
//
// With besideProjector, an order whose change is in the change log is left
// to the projector rather than synced: the sync would otherwise take the
// event's place in the order's history.
func reconcileRows(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, rows []*command.Order, inWrite map[order.ID]bool, stored []storedVersion, besideProjector bool) error {
	readVersion := make(map[order.ID]int, len(stored))
	for _, s := range stored {
		readVersion[s.ID] = s.Version
	}
	var behind []*command.Order
	for _, r := range rows {
		if v, ok := readVersion[r.ID]; ok && v >= r.Version {
			continue
		}
		behind = append(behind, r)
	}
	// Beside the projector, an order whose newest version has its event in
	// the change log gets it from the projector. Only what was written
	// without events — by stages 0–2 — is synced here.
	var logged map[order.ID]int
	if besideProjector {
		ids := make([]order.ID, len(behind))
		for i, r := range behind {
			ids[i] = r.ID
		}
		var err error
		if logged, err = loggedVersions(ctx, write, ids); err != nil {
			return err
		}
	}
	var upserts []*view
	for _, r := range behind {
		if logged[r.ID] >= r.Version {
			continue
		}
		row, err := viewOf(r.Domain(), false)
		if err != nil {
			return err
		}
		upserts = append(upserts, row)
	}
	gone := map[order.ID]int{}
	var goneIDs []order.ID
	for _, s := range stored {
		if !s.Deleted && !inWrite[s.ID] {
			gone[s.ID] = s.Version
			goneIDs = append(goneIDs, s.ID)
		}
	}
	// An order the read side has but the batch lacks may have been placed
	// after the batch was read: only one still absent now is deleted.
	// Beside the projector, one whose OrderDeleted is in the change log is
	// left to it, as above; one deleted without an event (stages 0–2) is
	// marked deleted here.
	if len(goneIDs) > 0 {
		var present []order.ID
		err := write.NewSelect().Model((*command.Order)(nil)).Column("id").Where("id IN (?)", bun.In(goneIDs)).Scan(ctx, &present)
		if err != nil {
			return fmt.Errorf("recheck orders: %w", err)
		}
		for _, id := range present {
			delete(gone, id)
		}
		if besideProjector {
			var deletedByEvent []order.ID
			err := write.NewSelect().TableExpr("change_log").Column("order_id").
				Where("order_id IN (?)", bun.In(goneIDs)).Where("type = ?", order.OrderDeleted{}.EventType()).
				Scan(ctx, &deletedByEvent)
			if err != nil {
				return fmt.Errorf("read the change log's deletions: %w", err)
			}
			for _, id := range deletedByEvent {
				delete(gone, id)
			}
		}
	}
	if len(upserts) == 0 && len(gone) == 0 {
		return nil
	}
	return read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := upsertViews(ctx, tx, t, upserts); err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		for _, id := range goneIDs {
			v, ok := gone[id]
			if !ok {
				continue
			}
			// The projector may have applied one of the order's events
			// since its version was read: the order is gone all the same,
			// so the tombstone goes one above whichever version is stored.
			var marked []int
			err := tx.NewUpdate().TableExpr("?", bun.Ident(t.Orders)).
				Set("deleted = ?", true).Set("version = CASE WHEN version > ? THEN version ELSE ? END + 1", v, v).
				Set("updated_at = ?", now).
				Where("id = ?", id).Where("NOT deleted").
				Returning("version").Scan(ctx, &marked)
			if err != nil {
				return fmt.Errorf("mark order %s deleted: %w", id, err)
			}
			if len(marked) == 1 {
				err := insertHistory(ctx, tx, t, &history{OrderID: id, Version: marked[0], Type: SyncedType, OccurredAt: now,
					Text: "Deleted: no longer in the database of record"})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// upsertViews writes rows over the stored ones that have a lower version
// (or none), with a history row for each one written.
func upsertViews(ctx context.Context, tx bun.Tx, t Tables, rows []*view) error {
	if len(rows) == 0 {
		return nil
	}
	var written []struct {
		ID order.ID `bun:"id"`
	}
	err := tx.NewInsert().Model(&rows).ModelTableExpr("?", bun.Ident(t.Orders)).
		On("CONFLICT (id) DO UPDATE").
		Where("?.version < EXCLUDED.version", bun.Ident(t.Orders)).
		Returning("id").
		Scan(ctx, &written)
	if err != nil {
		return fmt.Errorf("write orders: %w", err)
	}
	if len(written) == 0 {
		return nil
	}
	byID := make(map[order.ID]*view, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	hist := make([]*history, 0, len(written))
	for _, w := range written {
		r := byID[w.ID]
		hist = append(hist, &history{OrderID: r.ID, Version: r.Version, Type: SyncedType, OccurredAt: r.UpdatedAt,
			Text: fmt.Sprintf("Synced from the database of record at v%d", r.Version)})
	}
	return insertHistory(ctx, tx, t, hist...)
}

// loggedVersions is the newest version of each order the change log holds
// an event of.
func loggedVersions(ctx context.Context, write bun.IDB, ids []order.ID) (map[order.ID]int, error) {
	out := make(map[order.ID]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		OrderID order.ID `bun:"order_id"`
		Version int      `bun:"version"`
	}
	err := write.NewSelect().TableExpr("change_log").ColumnExpr("order_id, MAX(order_version) AS version").
		Where("order_id IN (?)", bun.In(ids)).Group("order_id").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("read the change log's versions: %w", err)
	}
	for _, r := range rows {
		out[r.OrderID] = r.Version
	}
	return out, nil
}
