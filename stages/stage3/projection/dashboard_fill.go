package projection

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// DashboardFold applies events to the dashboard's order rows in memory,
// with ApplyDashboard's rules, one order after another, and writes the rows
// they end with in bulk, as Fold does for the order rows: how a rebuild,
// the only writer of its shadow tables, replays the change log read by
// order. An order's events must come together and in version order. It
// leaves the figures alone: RecountDashboard adds them up from the order
// rows once the rows are all there.
type DashboardFold struct {
	t    DashboardTables
	cur  *dashFolded
	rows []*dashOrder
}

// dashFolded is an order's row as its events so far left it; row is nil
// while the order has none applied.
type dashFolded struct {
	id  order.ID
	row *dashOrder
}

// NewDashboardFold returns an empty fold into tables t.
func NewDashboardFold(t DashboardTables) *DashboardFold {
	return &DashboardFold{t: t}
}

// Apply folds e into its order's row in memory: a duplicate changes
// nothing, the next version is applied, a later one fails with ErrGap and
// one the order's rules refuse with ErrRefused. An event of another order
// than the last event's ends that order: its row is ready to be written.
func (f *DashboardFold) Apply(e order.Event) (Outcome, error) {
	if f.cur == nil || f.cur.id != e.OrderID {
		f.End()
		f.cur = &dashFolded{id: e.OrderID}
	}
	if e.OrderVersion < 1 {
		return 0, fmt.Errorf("%w: event %s of order %s has no version", ErrRefused, e.Type, e.OrderID)
	}
	row, stored := f.cur.row, 0
	if row != nil {
		if row.Deleted {
			return OutcomeDuplicate, nil
		}
		stored = row.Version
	}
	switch {
	case e.OrderVersion <= stored:
		return OutcomeDuplicate, nil
	case e.OrderVersion > stored+1:
		return 0, fmt.Errorf("%w: %s v%d of order %s arrived while the dashboard is at v%d", ErrGap, e.Type, e.OrderVersion, e.OrderID, stored)
	}
	next, err := row.next(e)
	if err != nil {
		return 0, err
	}
	f.cur.row = next
	return OutcomeApplied, nil
}

// End ends the order being folded: its row, if it has one, is ready to be
// written. Call it after the last event.
func (f *DashboardFold) End() {
	if f.cur != nil && f.cur.row != nil {
		f.rows = append(f.rows, f.cur.row)
	}
	f.cur = nil
}

// Pending is how many rows are ready to be written.
func (f *DashboardFold) Pending() int { return len(f.rows) }

// Ready hands over the rows that are ready, as a fold of their own for
// Flush, and goes on folding the order it is folding.
func (f *DashboardFold) Ready() *DashboardFold {
	r := &DashboardFold{t: f.t, rows: f.rows}
	f.rows = nil
	return r
}

// Flush writes the rows that are ready through b and forgets them; the
// order being folded stays.
func (f *DashboardFold) Flush(ctx context.Context, b *Bulk) error {
	if err := b.insertDashOrders(ctx, f.t.Orders, f.rows); err != nil {
		return err
	}
	clear(f.rows)
	f.rows = f.rows[:0]
	return nil
}

// RecountDashboard sets the figures of tables t from their order rows, in
// one transaction: for a shadow copy filled by a fold, which has no other
// writer.
func RecountDashboard(ctx context.Context, db *bun.DB, t DashboardTables) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return recount(ctx, tx, t)
	})
}

// recount empties the figures of tables t and adds them up again from
// their order rows, in tx.
func recount(ctx context.Context, tx bun.Tx, t DashboardTables) error {
	for _, table := range []string{t.Statuses, t.Revenue, t.Customers, t.CustomerRevenue} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+quote(table)); err != nil {
			return fmt.Errorf("empty %s: %w", table, err)
		}
	}
	return addRows(ctx, tx, t, +1, "")
}

// addRows adds what the order rows of tables t that match where (all of
// them if where is empty) count for to the figures, times sign (+1 or
// -1): one INSERT … SELECT … GROUP BY per figures table, which the
// database adds up by itself, whatever the number of rows.
func addRows(ctx context.Context, tx bun.Tx, t DashboardTables, sign int, where string, args ...any) error {
	from := " FROM " + quote(t.Orders) + " WHERE NOT deleted"
	if where != "" {
		from += " AND " + where
	}
	paying := from + " AND status <> '" + string(order.Cancelled) + "'"
	n := "COUNT(*)"
	sum := "CAST(COALESCE(SUM(total_cents), 0) AS BIGINT)"
	if sign < 0 {
		n, sum = "-"+n, "-"+sum
	}
	add := func(table, key string) string {
		s := " ON CONFLICT (" + key + ") DO UPDATE SET orders = " + quote(table) + ".orders + EXCLUDED.orders"
		if table != t.Statuses {
			s += ", cents = " + quote(table) + ".cents + EXCLUDED.cents"
		}
		return s
	}
	stmts := []string{
		"INSERT INTO " + quote(t.Statuses) + " (status, orders) SELECT status, " + n + from + " GROUP BY status" + add(t.Statuses, "status"),
		"INSERT INTO " + quote(t.Revenue) + " (currency, orders, cents) SELECT currency, " + n + ", " + sum + paying + " GROUP BY currency" + add(t.Revenue, "currency"),
		"INSERT INTO " + quote(t.Customers) + " (customer, orders, cents) SELECT customer, " + n + ", " + sum + paying + " GROUP BY customer" + add(t.Customers, "customer"),
		"INSERT INTO " + quote(t.CustomerRevenue) + " (customer, currency, orders, cents) SELECT customer, currency, " + n + ", " + sum + paying +
			" GROUP BY customer, currency" + add(t.CustomerRevenue, "customer, currency"),
	}
	for _, s := range stmts {
		if _, err := tx.NewRaw(s, args...).Exec(ctx); err != nil {
			return fmt.Errorf("add up the dashboard's figures: %w", err)
		}
	}
	return nil
}

// SyncDashboardWithViews brings the dashboard's tables t up to the order
// rows of the read tables v — how the dashboard is entered with stage 3,
// once Reconcile has brought the order rows up to the database of record.
// Both projections keep, per order, the version they applied and what it
// then was, so the dashboard takes its rows from the order rows it lacks
// or has at a lower version, inside the read database:
//
//   - an empty dashboard (stage 3 entered for the first time, or a read
//     database from before the dashboard projection) is filled with one
//     INSERT … SELECT from the order rows, and its figures added up from
//     what it holds then (one INSERT … SELECT … GROUP BY each);
//   - otherwise the orders whose rows differ are found with one join of
//     the two tables and copied a batch at a time, the figures changed by
//     what the batch's rows counted for before and after (addRows);
//   - an order the dashboard has but the order rows lack altogether is
//     synced from the database of record (SyncDashboardOrder).
//
// Each step holds the dashboard's tables against its consumer for its one
// transaction (on PostgreSQL a lock on them; a SQLite write transaction
// holds the database), so the figures count each row once, and a row is
// only moved to a higher version: the consumer's events stay in order
// and apply once.
func SyncDashboardWithViews(ctx context.Context, write bun.IDB, read *bun.DB, t DashboardTables, v Tables) error {
	filled, err := fillEmptyDashboard(ctx, read, t, v)
	if err != nil || filled {
		return err
	}
	var behind []order.ID
	err = read.NewRaw("SELECT v.id FROM ? AS v LEFT JOIN ? AS d ON d.id = v.id"+
		" WHERE d.id IS NULL OR (NOT d.deleted AND d.version < v.version) ORDER BY v.id",
		bun.Ident(v.Orders), bun.Ident(t.Orders)).Scan(ctx, &behind)
	if err != nil {
		return fmt.Errorf("compare the dashboard with the order rows: %w", err)
	}
	for part := range slices.Chunk(behind, dashBatch) {
		if err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return copyDashRows(ctx, tx, t, v, part)
		}); err != nil {
			return err
		}
	}
	var gone []order.ID
	err = read.NewRaw("SELECT d.id FROM ? AS d WHERE NOT d.deleted AND NOT EXISTS (SELECT 1 FROM ? AS v WHERE v.id = d.id)",
		bun.Ident(t.Orders), bun.Ident(v.Orders)).Scan(ctx, &gone)
	if err != nil {
		return fmt.Errorf("find the dashboard's orders the order rows lack: %w", err)
	}
	if len(gone) == 0 {
		return nil
	}
	logged, err := loggedVersions(ctx, write, gone)
	if err != nil {
		return err
	}
	for _, id := range gone {
		if err := syncDashboardOrder(ctx, write, read, t, id, logged[id]); err != nil {
			return err
		}
	}
	return nil
}

// holdDashboard keeps the dashboard's other writers (its consumers, in
// this process or others) out of tables t until tx ends: on PostgreSQL
// with a lock that lets readers through; a SQLite write transaction
// (begun IMMEDIATE) holds the whole database already.
func holdDashboard(ctx context.Context, tx bun.Tx, t DashboardTables) error {
	if sqlstore.DialectName(tx) != sqlstore.Postgres {
		return nil
	}
	names := make([]string, 0, 5)
	for _, table := range t.list() {
		names = append(names, quote(table))
	}
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("lock the dashboard's tables: %w", err)
	}
	return nil
}

// fillEmptyDashboard fills tables t from the order rows of v if it has no
// order at all, and reports whether it did.
func fillEmptyDashboard(ctx context.Context, read *bun.DB, t DashboardTables, v Tables) (bool, error) {
	filled := false
	err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := holdDashboard(ctx, tx, t); err != nil {
			return err
		}
		some, err := tx.NewSelect().TableExpr("?", bun.Ident(t.Orders)).Exists(ctx)
		if err != nil || some {
			return err
		}
		if _, err := tx.NewRaw("INSERT INTO ? ("+dashColumns+") SELECT "+dashColumns+" FROM ?",
			bun.Ident(t.Orders), bun.Ident(v.Orders)).Exec(ctx); err != nil {
			return fmt.Errorf("fill the dashboard from the order rows: %w", err)
		}
		filled = true
		return recount(ctx, tx, t)
	})
	return filled, err
}

// dashColumns are the columns dashboard_orders shares with order_views.
const dashColumns = "id, version, customer, currency, status, total_cents, deleted"

// copyDashRows copies the order rows ids of v over the dashboard's rows of
// tables t that are behind them, in tx: the figures lose what the
// dashboard's rows of ids counted for and gain what they count for once
// copied. A row the consumer moved meanwhile is left as it is, and counts
// the same on both sides.
func copyDashRows(ctx context.Context, tx bun.Tx, t DashboardTables, v Tables, ids []order.ID) error {
	set := "version = EXCLUDED.version, customer = EXCLUDED.customer, currency = EXCLUDED.currency, status = EXCLUDED.status," +
		" total_cents = EXCLUDED.total_cents, deleted = EXCLUDED.deleted"
	if err := holdDashboard(ctx, tx, t); err != nil {
		return err
	}
	if err := addRows(ctx, tx, t, -1, "id IN (?)", bun.In(ids)); err != nil {
		return err
	}
	_, err := tx.NewRaw("INSERT INTO ? ("+dashColumns+") SELECT "+dashColumns+" FROM ? WHERE id IN (?)"+
		" ON CONFLICT (id) DO UPDATE SET "+set+" WHERE NOT ?.deleted AND ?.version < EXCLUDED.version",
		bun.Ident(t.Orders), bun.Ident(v.Orders), bun.In(ids), bun.Ident(t.Orders), bun.Ident(t.Orders)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("copy the order rows to the dashboard: %w", err)
	}
	return addRows(ctx, tx, t, +1, "id IN (?)", bun.In(ids))
}

// CreateDashboardShadow drops the dashboard's shadow tables if they exist
// and makes them empty, exactly like the live ones, as CreateShadow does
// for the order rows.
func CreateDashboardShadow(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		live, shadow := DashboardLive.list(), DashboardShadow.list()
		for i := range live {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+quote(shadow[i])); err != nil {
				return fmt.Errorf("drop %s: %w", shadow[i], err)
			}
			var err error
			if sqlstore.DialectName(tx) == sqlstore.Postgres {
				err = copyTablePostgres(ctx, tx, live[i], shadow[i])
			} else {
				err = copyTableSQLite(ctx, tx, live[i], shadow[i], false)
			}
			if err != nil {
				return fmt.Errorf("create %s like %s: %w", shadow[i], live[i], err)
			}
		}
		return nil
	})
}

// SwapDashboardShadow puts the dashboard's shadow tables in the place of
// the live ones in one transaction, as SwapShadow does for the order rows.
func SwapDashboardShadow(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		live, shadow := DashboardLive.list(), DashboardShadow.list()
		for i := range live {
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+quote(live[i])); err != nil {
				return fmt.Errorf("drop %s: %w", live[i], err)
			}
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+quote(shadow[i])+" RENAME TO "+quote(live[i])); err != nil {
				return fmt.Errorf("rename %s to %s: %w", shadow[i], live[i], err)
			}
			if err := renameIndexes(ctx, tx, live[i], shadow[i], live[i]); err != nil {
				return fmt.Errorf("rename indexes of %s: %w", live[i], err)
			}
		}
		return nil
	})
}

// DashboardEmpty tells whether the dashboard's tables t have no order at
// all: a new or dropped dashboard, which is filled faster than synced.
func DashboardEmpty(ctx context.Context, read bun.IDB, t DashboardTables) (bool, error) {
	some, err := read.NewSelect().TableExpr("?", bun.Ident(t.Orders)).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("look at the dashboard: %w", err)
	}
	return !some, nil
}

// recordOrder is what the dashboard needs of an order of the database of
// record.
type recordOrder struct {
	ID         order.ID     `bun:"id"`
	Version    int          `bun:"version"`
	Customer   string       `bun:"customer"`
	Currency   string       `bun:"currency"`
	Status     order.Status `bun:"status"`
	TotalCents int64        `bun:"total_cents"`
}

func (r recordOrder) row() *dashOrder {
	return &dashOrder{ID: r.ID, Version: r.Version, Customer: r.Customer, Currency: r.Currency, Status: r.Status, TotalCents: r.TotalCents}
}

// dashBatch is how many orders one statement of the dashboard's sync reads
// or writes by key.
const dashBatch = 500

// dashReconcileBatch is how many orders ReconcileDashboard reads at a time.
const dashReconcileBatch = 1000

// recordVersion is an order's version in the database of record.
type recordVersion struct {
	ID      order.ID `bun:"id"`
	Version int      `bun:"version"`
}

// recordVersions reads the version of the database of record's next limit
// orders after after (from the start if nil), in ID order: what a sync
// compares first, reading the orders themselves only where they differ.
func recordVersions(ctx context.Context, write bun.IDB, after *order.ID, limit int) ([]recordVersion, error) {
	var rows []recordVersion
	q := write.NewSelect().TableExpr("orders AS o").ColumnExpr("o.id, o.version").OrderExpr("o.id").Limit(int64(limit))
	if after != nil {
		q = q.Where("o.id > ?", *after)
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("read orders for the dashboard: %w", err)
	}
	return rows, nil
}

// recordOrders reads the database of record's orders ids, with their
// totals.
func recordOrders(ctx context.Context, write bun.IDB, ids []order.ID) ([]recordOrder, error) {
	var out []recordOrder
	for part := range slices.Chunk(ids, dashBatch) {
		var rows []recordOrder
		err := write.NewSelect().TableExpr("orders AS o").
			ColumnExpr("o.id, o.version, o.customer, o.currency, o.status").
			ColumnExpr("(SELECT CAST(COALESCE(SUM(l.quantity * l.unit_price_cents), 0) AS BIGINT) FROM order_lines AS l WHERE l.order_id = o.id) AS total_cents").
			Where("o.id IN (?)", bun.In(part)).Scan(ctx, &rows)
		if err != nil {
			return nil, fmt.Errorf("read orders for the dashboard: %w", err)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// ReconcileDashboard brings the dashboard's tables t up to the database of
// record, as Reconcile does for the order rows: every order whose version
// is above the dashboard's (or that it lacks) takes the record's state, and
// every order the record no longer has becomes a tombstone one version
// above, the figures changed by the difference each time. Every write is
// guarded by version, so it may run beside the dashboard's consumer. An
// order the change log knows but neither the record nor t has (changed in
// stage 3, deleted by an earlier stage before the dashboard saw it) gets a
// tombstone, so that its events, still on the bus, stay no-ops.
func ReconcileDashboard(ctx context.Context, write bun.IDB, read *bun.DB, t DashboardTables) error {
	var after *order.ID
	for {
		rows, err := recordVersions(ctx, write, after, dashReconcileBatch)
		if err != nil {
			return err
		}
		last := len(rows) < dashReconcileBatch
		var upTo *order.ID
		if !last {
			upTo = &rows[len(rows)-1].ID
		}
		if err := reconcileDashRange(ctx, write, read, t, rows, after, upTo); err != nil {
			return err
		}
		if last {
			return reconcileDashUnseen(ctx, write, read, t)
		}
		after = upTo
	}
}

// reconcileDashRange reconciles the dashboard's orders with IDs in (after,
// upTo] with rows, the record's orders' versions in that range; a batch
// that races with the consumer is done again.
func reconcileDashRange(ctx context.Context, write bun.IDB, read *bun.DB, t DashboardTables, rows []recordVersion, after, upTo *order.ID) error {
	for attempt := 1; ; attempt++ {
		err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			var stored []*dashOrder
			q := tx.NewSelect().Model(&stored).ModelTableExpr("? AS d", bun.Ident(t.Orders))
			if after != nil {
				q = q.Where("d.id > ?", *after)
			}
			if upTo != nil {
				q = q.Where("d.id <= ?", *upTo)
			}
			if err := q.Scan(ctx); err != nil {
				return fmt.Errorf("read the dashboard's orders: %w", err)
			}
			delta := map[figureKey]figureDelta{}
			have := make(map[order.ID]*dashOrder, len(stored))
			for _, s := range stored {
				have[s.ID] = s
			}
			inRecord := make(map[order.ID]bool, len(rows))
			var behind []order.ID
			for _, r := range rows {
				inRecord[r.ID] = true
				if cur := have[r.ID]; cur == nil || (!cur.Deleted && cur.Version < r.Version) {
					behind = append(behind, r.ID)
				}
			}
			changed, err := recordOrders(ctx, write, behind)
			if err != nil {
				return err
			}
			slices.SortFunc(changed, func(a, b recordOrder) int { return bytes.Compare(a.ID[:], b.ID[:]) })
			for _, r := range changed {
				cur := have[r.ID]
				if cur != nil && (cur.Deleted || cur.Version >= r.Version) {
					continue
				}
				if err := writeDashOrder(ctx, tx, t, cur, r.row(), delta); err != nil {
					return err
				}
			}
			var gone []order.ID
			for _, s := range stored {
				if !s.Deleted && !inRecord[s.ID] {
					gone = append(gone, s.ID)
				}
			}
			if len(gone) == 0 {
				return addFigures(ctx, tx, t, delta)
			}
			// An order placed after the batch was read is not gone: only
			// one still absent now is.
			var present []order.ID
			if err := write.NewSelect().TableExpr("orders").Column("id").Where("id IN (?)", bun.In(gone)).Scan(ctx, &present); err != nil {
				return fmt.Errorf("recheck orders: %w", err)
			}
			// A tombstone at the version of the order's last event, if the
			// change log has it (its deletion, still on its way to the
			// dashboard projector), else one above the stored version.
			logged, err := loggedVersions(ctx, write, gone)
			if err != nil {
				return err
			}
			for _, id := range gone {
				if slices.Contains(present, id) {
					continue
				}
				cur := have[id]
				next := *cur
				next.Version, next.Deleted = max(cur.Version+1, logged[id]), true
				if err := writeDashOrder(ctx, tx, t, cur, &next, delta); err != nil {
					return err
				}
			}
			return addFigures(ctx, tx, t, delta)
		})
		if !errors.Is(err, errRaced) && !sqlstore.Conflicted(err) {
			return err
		}
		// The consumer changed an order of the batch meanwhile, as it may
		// keep doing while it works off a backlog: try again, a little
		// later each time, until it lets the batch through (entering the
		// stage bounds the wait with its own deadline).
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (tried %d times): %w", err, attempt, ctx.Err())
		case <-time.After(min(time.Duration(attempt)*10*time.Millisecond, 250*time.Millisecond)):
		}
	}
}

// reconcileDashUnseen gives a tombstone to the orders that the change log
// has events of but that neither the record nor the dashboard has.
func reconcileDashUnseen(ctx context.Context, write bun.IDB, read *bun.DB, t DashboardTables) error {
	var gone []struct {
		ID      order.ID `bun:"order_id"`
		Version int      `bun:"version"`
	}
	err := write.NewRaw(`SELECT c.order_id, MAX(c.order_version) AS version FROM change_log AS c
		WHERE NOT EXISTS (SELECT 1 FROM orders AS o WHERE o.id = c.order_id) GROUP BY c.order_id`).Scan(ctx, &gone)
	if err != nil {
		return fmt.Errorf("find the orders deleted without the dashboard seeing them: %w", err)
	}
	for part := range slices.Chunk(gone, dashBatch) {
		rows := make([]*dashOrder, 0, len(part))
		for _, g := range part {
			rows = append(rows, &dashOrder{ID: g.ID, Version: g.Version, Status: order.Placed, Deleted: true})
		}
		// An order the dashboard has keeps its row: its own deletion
		// event, or the sync above, takes it out.
		if _, err := read.NewInsert().Model(&rows).ModelTableExpr("?", bun.Ident(t.Orders)).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("write the dashboard's tombstones: %w", err)
		}
	}
	return nil
}

// SyncDashboardOrder brings one order of the dashboard up to the database
// of record, for the dashboard's consumer when the versions it lacks will
// never come as events (written by stages 0–2). An order the record no
// longer has becomes a tombstone at version gone (the newest the change
// log knows), unless the dashboard has it at that version or later.
func SyncDashboardOrder(ctx context.Context, write bun.IDB, read *bun.DB, id order.ID, gone int) error {
	return syncDashboardOrder(ctx, write, read, DashboardLive, id, gone)
}

func syncDashboardOrder(ctx context.Context, write bun.IDB, read *bun.DB, t DashboardTables, id order.ID, gone int) error {
	for attempt := 1; ; attempt++ {
		err := read.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			cur, err := loadDashOrder(ctx, tx, t, id)
			if err != nil {
				return err
			}
			if cur != nil && cur.Deleted {
				return nil
			}
			rec, err := recordOrderByID(ctx, write, id)
			if err != nil {
				return err
			}
			var next *dashOrder
			switch {
			case rec != nil:
				next = rec.row()
			case cur != nil:
				next = &dashOrder{ID: id, Version: max(gone, cur.Version+1), Customer: cur.Customer, Currency: cur.Currency,
					Status: cur.Status, TotalCents: cur.TotalCents, Deleted: true}
			default:
				next = &dashOrder{ID: id, Version: gone, Status: order.Placed, Deleted: true}
			}
			if cur != nil && cur.Version >= next.Version {
				return nil
			}
			return setDashOrder(ctx, tx, t, cur, next)
		})
		if (errors.Is(err, errRaced) || sqlstore.Conflicted(err)) && attempt < 10 {
			continue
		}
		return err
	}
}

// recordOrderByID reads one order of the database of record; nil if it has
// none.
func recordOrderByID(ctx context.Context, write bun.IDB, id order.ID) (*recordOrder, error) {
	var r recordOrder
	err := write.NewSelect().TableExpr("orders AS o").
		ColumnExpr("o.id, o.version, o.customer, o.currency, o.status").
		ColumnExpr("(SELECT CAST(COALESCE(SUM(l.quantity * l.unit_price_cents), 0) AS BIGINT) FROM order_lines AS l WHERE l.order_id = o.id) AS total_cents").
		Where("o.id = ?", id).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read order %s: %w", id, err)
	}
	return &r, nil
}
