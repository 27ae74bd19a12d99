package projection

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/stages/stage3/command"
)

// reconcileBatch is how many orders Reconcile reads from the database of
// record at a time, and writes in one transaction of the read database (a
// variable only so that tests can make batches small).
var reconcileBatch = 2000

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
// A read side that is up to date costs a scan of versions on each side; an
// empty one (stage 3 entered for the first time) a copy at the speed of
// multi-row inserts: the batches the read side lacks are read whole, as raw
// columns, and written with prepared multi-row statements (bulk.go), while
// the next batch is being read.
//
// The database of record keeps no trace of deleted orders, so an order
// deleted before the read side ever saw it leaves no tombstone: rebuilt from
// the database of record alone, a read side would take a late redelivery of
// such an order's events as new.
func Reconcile(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, progress func(done, total int64)) error {
	return reconcile(ctx, write, read, t, nil, progress)
}

// ReconcileWithDashboard is Reconcile of the order rows t together with
// the dashboard's tables d, in the same pass — how stage 3 is entered. The
// dashboard keeps, per order, the version it applied, so the pass reads the
// dashboard's versions of each range beside the order rows' and, in the
// range's transaction, copies to the dashboard the order rows it lacks or
// has at a lower version (copyDashRows), the figures changed by the
// difference; an order the dashboard has and the database of record no
// longer has is synced from the record, one at a time. An empty dashboard
// is left out of the pass and filled at its end with one INSERT … SELECT
// from the order rows, its figures added up with one INSERT … SELECT …
// GROUP BY each (SyncDashboardWithViews).
func ReconcileWithDashboard(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, d DashboardTables, progress func(done, total int64)) error {
	empty, err := DashboardEmpty(ctx, read, d)
	if err != nil {
		return err
	}
	if empty {
		if err := reconcile(ctx, write, read, t, nil, progress); err != nil {
			return err
		}
		return SyncDashboardWithViews(ctx, write, read, d, t)
	}
	if err := reconcile(ctx, write, read, t, &d, progress); err != nil {
		return err
	}
	return reconcileDashUnseen(ctx, write, read, d)
}

// reconcile is Reconcile, with the dashboard's tables d too unless d is
// nil.
func reconcile(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, d *DashboardTables, progress func(done, total int64)) error {
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
	// The whole-table sync of the live tables runs beside the projector.
	besideProjector := t == Live
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
			r, err := readBehind(ctx, write, read, t, d, after, besideProjector)
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
		if err := r.reconcile(ctx, write, read, t, d, besideProjector); err != nil {
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

// reconcile brings the read side's orders of the range, and the
// dashboard's if d is not nil, into line with the database of record.
func (r behindRange) reconcile(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, d *DashboardTables, besideProjector bool) error {
	inWrite := make(map[order.ID]bool, len(r.ids))
	for _, w := range r.ids {
		inWrite[w.ID] = true
	}
	var then func(context.Context, bun.Tx) error
	var gone []storedVersion
	if d != nil {
		// The dashboard's orders behind the record's are copied from the
		// order rows just written, in the same transaction; those the
		// record no longer has are synced from it after.
		have := make(map[order.ID]storedVersion, len(r.dash))
		for _, s := range r.dash {
			have[s.ID] = s
			if !s.Deleted && !inWrite[s.ID] {
				gone = append(gone, s)
			}
		}
		var behind []order.ID
		for _, w := range r.ids {
			if s, ok := have[w.ID]; !ok || (!s.Deleted && s.Version < w.Version) {
				behind = append(behind, w.ID)
			}
		}
		if len(behind) > 0 {
			then = func(ctx context.Context, tx bun.Tx) error {
				for part := range slices.Chunk(behind, dashBatch) {
					if err := copyDashRows(ctx, tx, *d, t, part); err != nil {
						return err
					}
				}
				return nil
			}
		}
	}
	if err := reconcileRows(ctx, write, read, t, r.rows, r.logged, inWrite, r.stored, besideProjector, then); err != nil {
		return err
	}
	if len(gone) == 0 {
		return nil
	}
	ids := make([]order.ID, len(gone))
	for i, g := range gone {
		ids[i] = g.ID
	}
	logged, err := loggedVersions(ctx, write, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := syncDashboardOrder(ctx, write, read, *d, id, logged[id]); err != nil {
			return err
		}
	}
	return nil
}

// behindRange is a range of orders as readBehind found it: ids, the
// database of record's orders in it; stored, the read side's; rows, the
// read rows of the record's orders that the read side may lack; logged,
// beside the projector, the newest version the change log has of each of
// them.
type behindRange struct {
	ids    []writeVersion
	stored []storedVersion
	rows   []*view
	logged map[order.ID]int
	// dash is the dashboard's orders of the range, when it is synced too.
	dash []storedVersion
}

// writeVersion is an order's version in the database of record.
type writeVersion struct {
	ID      order.ID
	Version int
}

// readBehind reads the IDs and versions of the database of record's next
// batch of orders after after (from the start if nil), in ID order, and in
// full — with their lines — only the orders the tables t have at a lower
// version or not at all: a read side that is up to date costs a scan of
// versions on each side, not a read of every order and line. It reads all
// it reads from the database of record in one snapshot.
func readBehind(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, d *DashboardTables, after *order.ID, besideProjector bool) (behindRange, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if sqlstore.DialectName(write) == sqlstore.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	var r behindRange
	err := write.RunInTx(ctx, opts, func(ctx context.Context, tx bun.Tx) error {
		where, args := recordRange("o.id", after, nil, nil)
		rows, err := tx.QueryContext(ctx, "SELECT o.id, o.version FROM orders AS o"+where+" ORDER BY o.id LIMIT ?",
			append(args, reconcileBatch)...)
		if err != nil {
			return fmt.Errorf("read order versions: %w", err)
		}
		r.ids = make([]writeVersion, 0, reconcileBatch)
		for rows.Next() {
			var w writeVersion
			if err := rows.Scan(&w.ID, &w.Version); err != nil {
				rows.Close()
				return fmt.Errorf("read order versions: %w", err)
			}
			r.ids = append(r.ids, w)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("read order versions: %w", err)
		}
		if len(r.ids) == 0 {
			return nil
		}
		// The read side's orders of the same range: up to the last ID
		// read, or with no upper bound after a short (last) batch.
		upTo := &r.ids[len(r.ids)-1].ID
		if len(r.ids) < reconcileBatch {
			upTo = nil
		}
		if r.stored, err = readStored(ctx, read, t.Orders, after, upTo); err != nil {
			return err
		}
		if d != nil {
			if r.dash, err = readStored(ctx, read, d.Orders, after, upTo); err != nil {
				return err
			}
		}
		have := make(map[order.ID]int, len(r.stored))
		for _, s := range r.stored {
			have[s.ID] = s.Version
		}
		var behind []order.ID
		for _, w := range r.ids {
			if v, ok := have[w.ID]; !ok || v < w.Version {
				behind = append(behind, w.ID)
			}
		}
		switch {
		case len(behind) == 0:
			return nil
		case 2*len(behind) >= len(r.ids):
			// Most of the range: read it whole, as a range.
			r.rows, err = recordViews(ctx, tx, after, &r.ids[len(r.ids)-1].ID, nil)
		default:
			r.rows, err = recordViewsByID(ctx, tx, behind)
		}
		if err != nil || !besideProjector {
			return err
		}
		r.logged, err = loggedVersionsIn(ctx, tx, after, &r.ids[len(r.ids)-1].ID)
		return err
	})
	if err == nil && len(r.ids) == 0 {
		// Nothing left in the database of record: the read side's orders
		// past after are all candidates for deletion.
		r.stored, err = readStored(ctx, read, t.Orders, after, nil)
		if err == nil && d != nil {
			r.dash, err = readStored(ctx, read, d.Orders, after, nil)
		}
	}
	return r, err
}

// readStored reads the versions of the orders of table in (after, upTo]
// (either bound left out when nil), or of the orders ids: the order rows'
// or the dashboard's.
func readStored(ctx context.Context, read *bun.DB, table string, after, upTo *order.ID, ids ...order.ID) ([]storedVersion, error) {
	where, args := recordRange("v.id", after, upTo, ids)
	rows, err := read.QueryContext(ctx, "SELECT v.id, v.version, v.deleted FROM "+quote(table)+" AS v"+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	var out []storedVersion
	for rows.Next() {
		var s storedVersion
		if err := rows.Scan(&s.ID, &s.Version, &s.Deleted); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read versions: %w", err)
		}
		out = append(out, s)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	return out, nil
}

// loggedVersionsIn is the newest version the change log holds of each
// order in (after, upTo] that it has events of: a range of its key, which
// both databases read as an index range.
func loggedVersionsIn(ctx context.Context, write bun.IDB, after, upTo *order.ID) (map[order.ID]int, error) {
	where, args := recordRange("c.order_id", after, upTo, nil)
	rows, err := write.QueryContext(ctx, "SELECT c.order_id, MAX(c.order_version) FROM change_log AS c"+where+" GROUP BY c.order_id", args...)
	if err != nil {
		return nil, fmt.Errorf("read the change log's versions: %w", err)
	}
	out := map[order.ID]int{}
	for rows.Next() {
		var id order.ID
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read the change log's versions: %w", err)
		}
		out[id] = v
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read the change log's versions: %w", err)
	}
	return out, nil
}

// ReconcileOrder brings one order of the tables t up to date with the
// database of record, as Reconcile does for all: for the projector, when an
// order's missing versions will never come as events.
func ReconcileOrder(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, id order.ID) error {
	var rows []*view
	o, _, err := command.Load(ctx, write, id, false)
	switch {
	case err == nil:
		row, err := viewOf(o, false)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	case order.ErrorCode(err) != order.ENOTFOUND:
		return err
	}
	stored, err := readStored(ctx, read, t.Orders, nil, nil, id)
	if err != nil {
		return fmt.Errorf("read version of order %s: %w", id, err)
	}
	return reconcileRows(ctx, write, read, t, rows, nil, map[order.ID]bool{id: len(rows) > 0}, stored, false, nil)
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
		if err := sqlstore.RunInTxAgain(ctx, read, syncTries, func(ctx context.Context, tx bun.Tx) error {
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

// syncTries is how many times a sync's transaction is tried when
// PostgreSQL keeps ending it for a conflict with the projector's.
const syncTries = 20

// reconcileRows brings the read side's stored orders and the database of
// record's rows, taken from the same range of IDs, into line: inWrite
// holds every order of the range that the database of record has, rows
// the read rows of those of them that may be ahead of the read side.
//
// With besideProjector, an order whose change is in the change log is left
// to the projector rather than synced: the sync would otherwise take the
// event's place in the order's history. logged, if not nil, is the newest
// version the change log has of each order of rows (read in the same
// snapshot as rows); if nil, it is read here. then, if not nil, runs last
// in the same transaction.
func reconcileRows(ctx context.Context, write bun.IDB, read *bun.DB, t Tables, rows []*view, logged map[order.ID]int, inWrite map[order.ID]bool, stored []storedVersion, besideProjector bool, then func(context.Context, bun.Tx) error) error {
	readVersion := make(map[order.ID]int, len(stored))
	for _, s := range stored {
		readVersion[s.ID] = s.Version
	}
	var behind []*view
	for _, r := range rows {
		if v, ok := readVersion[r.ID]; ok && v >= r.Version {
			continue
		}
		behind = append(behind, r)
	}
	// Beside the projector, an order whose newest version has its event in
	// the change log gets it from the projector. Only what was written
	// without events — by stages 0–2 — is synced here.
	if besideProjector && logged == nil {
		ids := make([]order.ID, len(behind))
		for i, r := range behind {
			ids[i] = r.ID
		}
		var err error
		if logged, err = loggedVersions(ctx, write, ids); err != nil {
			return err
		}
	}
	upserts := behind
	if besideProjector {
		upserts = make([]*view, 0, len(behind))
		for _, r := range behind {
			if logged[r.ID] < r.Version {
				upserts = append(upserts, r)
			}
		}
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
	if len(upserts) == 0 && len(gone) == 0 && then == nil {
		return nil
	}
	// Beside a projector that writes many orders in one transaction,
	// PostgreSQL may end this one for a deadlock: then it runs again.
	return sqlstore.RunInTxAgain(ctx, read, syncTries, func(ctx context.Context, tx bun.Tx) error {
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
		if then != nil {
			return then(ctx, tx)
		}
		return nil
	})
}

// upsertViews writes rows over the stored ones that have a lower version
// (or none), with a history row for each one written, with multi-row
// statements (bulkInsert).
func upsertViews(ctx context.Context, tx bun.Tx, t Tables, rows []*view) error {
	if len(rows) == 0 {
		return nil
	}
	dialect := sqlstore.DialectName(tx)
	set := make([]string, 0, len(viewColumns)-1)
	for _, c := range viewColumns[1:] {
		set = append(set, c+" = EXCLUDED."+c)
	}
	views := bulkInsert{table: t.Orders, columns: viewColumns,
		suffix: "ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ") +
			" WHERE " + quote(t.Orders) + ".version < EXCLUDED.version RETURNING id"}
	written := make(map[order.ID]bool, len(rows))
	err := views.run(ctx, tx, len(rows), func(args []any, i int) []any {
		return viewValues(dialect, args, rows[i])
	}, func(res *sql.Rows) error {
		var id order.ID
		if err := res.Scan(&id); err != nil {
			return err
		}
		written[id] = true
		return nil
	})
	if err != nil || len(written) == 0 {
		return err
	}
	hist := make([]*history, 0, len(written))
	for _, r := range rows {
		if written[r.ID] {
			hist = append(hist, &history{OrderID: r.ID, Version: r.Version, Type: SyncedType, OccurredAt: r.UpdatedAt,
				Text: "Synced from the database of record at v" + strconv.Itoa(r.Version)})
		}
	}
	histories := bulkInsert{table: t.History, columns: historyColumns, suffix: "ON CONFLICT (order_id, version) DO NOTHING"}
	return histories.run(ctx, tx, len(hist), func(args []any, i int) []any {
		return historyValues(dialect, args, hist[i])
	}, nil)
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
