package projection

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// Entering stage 3 after stages 0–2 wrote every order without events
// copies the whole database of record into the read tables. Done the way
// one order is synced — a query built for it, its values spelled out in
// the SQL text that the database parses again — that copy costs more in
// building and parsing statements than in storing rows. So the sync reads
// the orders and their lines as raw columns, a keyset page at a time, and
// writes the read rows with multi-row INSERTs prepared once per
// transaction, their values bound as parameters (bulkInsert).

// bulkInsert is one table's multi-row INSERT: INSERT INTO table (columns)
// VALUES (…), (…) suffix, where suffix may say what a conflict does and
// what the statement returns.
type bulkInsert struct {
	table   string
	columns []string
	suffix  string
}

// text is the statement for rows rows, with the placeholders of dialect
// (? on SQLite, $n on PostgreSQL).
func (b bulkInsert) text(dialect string, rows int) string {
	var s strings.Builder
	s.WriteString("INSERT INTO ")
	s.WriteString(quote(b.table))
	s.WriteString(" (")
	for i, c := range b.columns {
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(quote(c))
	}
	s.WriteString(") VALUES ")
	n := 0
	for r := range rows {
		if r > 0 {
			s.WriteString(", ")
		}
		s.WriteByte('(')
		for c := range b.columns {
			if c > 0 {
				s.WriteString(", ")
			}
			n++
			if dialect == sqlstore.Postgres {
				s.WriteByte('$')
				s.WriteString(strconv.Itoa(n))
			} else {
				s.WriteByte('?')
			}
		}
		s.WriteByte(')')
	}
	if b.suffix != "" {
		s.WriteByte(' ')
		s.WriteString(b.suffix)
	}
	return s.String()
}

// run writes n rows in tx, rowsPerStatement at a time; values appends the
// values of row i, in the order of the columns, to args. returned, if not
// nil, scans each row a statement returns (its suffix must have a
// RETURNING clause).
func (b bulkInsert) run(ctx context.Context, tx bun.Tx, n int, values func(args []any, i int) []any, returned func(*sql.Rows) error) error {
	dialect := sqlstore.DialectName(tx)
	per := rowsPerStatement(dialect, len(b.columns))
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, min(n, per)*len(b.columns))
	for start := 0; start < n; start += per {
		rows := min(per, n-start)
		args = args[:0]
		for i := start; i < start+rows; i++ {
			args = values(args, i)
		}
		// A full statement is prepared once and run again for every
		// full batch; the last, shorter one is run as it is.
		var err error
		if rows == per && full == nil {
			if full, err = tx.Tx.PrepareContext(ctx, b.text(dialect, rows)); err != nil {
				return fmt.Errorf("write %s: %w", b.table, err)
			}
		}
		if returned == nil {
			if rows == per {
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.Tx.ExecContext(ctx, b.text(dialect, rows), args...)
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", b.table, err)
			}
			continue
		}
		var res *sql.Rows
		if rows == per {
			res, err = full.QueryContext(ctx, args...)
		} else {
			res, err = tx.Tx.QueryContext(ctx, b.text(dialect, rows), args...)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", b.table, err)
		}
		for res.Next() {
			if err := returned(res); err != nil {
				res.Close()
				return fmt.Errorf("write %s: %w", b.table, err)
			}
		}
		if err := res.Close(); err != nil {
			return fmt.Errorf("write %s: %w", b.table, err)
		}
		if err := res.Err(); err != nil {
			return fmt.Errorf("write %s: %w", b.table, err)
		}
	}
	return nil
}

// viewValues appends a read row's values as dialect binds them.
func viewValues(dialect string, args []any, v *view) []any {
	return append(args, idValue(dialect, v.ID), v.Customer, v.Address, v.Currency, string(v.Status), int64(v.Version),
		int64(v.LineCount), v.TotalCents, v.Lines, timeValue(dialect, v.CreatedAt), timeValue(dialect, v.UpdatedAt),
		boolValue(dialect, v.Deleted))
}

func historyValues(dialect string, args []any, h *history) []any {
	return append(args, idValue(dialect, h.OrderID), int64(h.Version), h.Type, timeValue(dialect, h.OccurredAt), h.Text)
}

// idValue is an order ID as the read tables store it: a UUID on
// PostgreSQL, its text on SQLite.
func idValue(dialect string, id order.ID) any {
	if dialect == sqlstore.Postgres {
		return [16]byte(id)
	}
	return id.String()
}

// timeValue is a time as bun stores it: on SQLite the text bun writes (so
// that rows written either way sort alike), on PostgreSQL the time itself.
func timeValue(dialect string, t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if dialect == sqlstore.Postgres {
		return t.UTC()
	}
	return t.UTC().Format("2006-01-02 15:04:05.999999-07:00")
}

// boolValue is a boolean as bun stores it: 1 or 0 on SQLite.
func boolValue(dialect string, b bool) any {
	if dialect == sqlstore.Postgres {
		return b
	}
	if b {
		return int64(1)
	}
	return int64(0)
}

// recordViews reads the database of record's orders in (after, upTo]
// (after nil: from the first; upTo nil: to the last) or, with ids, those
// orders, as read rows: the orders' and their lines' columns as they are,
// a query for each, the lines put on their orders as both come, in ID
// order.
func recordViews(ctx context.Context, db bun.IDB, after, upTo *order.ID, ids []order.ID) ([]*view, error) {
	where, args := recordRange("o.id", after, upTo, ids)
	rows, err := db.QueryContext(ctx, "SELECT o.id, o.customer, o.address, o.currency, o.status, o.version, o.created_at, o.updated_at"+
		" FROM orders AS o"+where+" ORDER BY o.id", args...)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	var orders []*order.Order
	for rows.Next() {
		o := new(order.Order)
		var status string
		if err := rows.Scan(&o.ID, &o.Customer, &o.Address, &o.Currency, &status, &o.Version, &o.CreatedAt, &o.UpdatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read orders: %w", err)
		}
		o.Status = order.Status(status)
		orders = append(orders, o)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	if len(orders) == 0 {
		return nil, nil
	}
	// The lines of the same range of IDs, up to the last order read, or of
	// the same IDs: PostgreSQL plans a range on the lines' key as an index
	// scan even before the tables were analyzed, and a long IN list as a
	// full scan, so lists stay short (recordViewsByID).
	if ids == nil {
		upTo = &orders[len(orders)-1].ID
	}
	where, args = recordRange("l.order_id", after, upTo, ids)
	rows, err = db.QueryContext(ctx, "SELECT l.order_id, l.sku, l.name, l.quantity, l.unit_price_cents FROM order_lines AS l"+
		where+" ORDER BY l.order_id, l.position", args...)
	if err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	next := 0
	for rows.Next() {
		var id order.ID
		var l order.Line
		if err := rows.Scan(&id, &l.SKU, &l.Name, &l.Quantity, &l.UnitPriceCents); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read lines: %w", err)
		}
		for next < len(orders) && bytes.Compare(orders[next].ID[:], id[:]) < 0 {
			next++
		}
		if next == len(orders) || orders[next].ID != id {
			continue // an order placed after the orders were read (outside a transaction)
		}
		orders[next].Lines = append(orders[next].Lines, l)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	out := make([]*view, len(orders))
	for i, o := range orders {
		if out[i], err = viewOf(o, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recordViewsByID reads the database of record's orders ids as read rows,
// a few at a time, in ID order if ids are.
func recordViewsByID(ctx context.Context, db bun.IDB, ids []order.ID) ([]*view, error) {
	var out []*view
	for start := 0; start < len(ids); start += 50 {
		part, err := recordViews(ctx, db, nil, nil, ids[start:min(start+50, len(ids))])
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, nil
}

// recordRange is the WHERE clause of an ID column in (after, upTo], or in
// ids when ids is not nil, with its arguments for bun's placeholders.
func recordRange(column string, after, upTo *order.ID, ids []order.ID) (string, []any) {
	if ids != nil {
		return " WHERE " + column + " IN (?)", []any{bun.In(ids)}
	}
	var conds []string
	var args []any
	if after != nil {
		conds = append(conds, column+" > ?")
		args = append(args, *after)
	}
	if upTo != nil {
		conds = append(conds, column+" <= ?")
		args = append(args, *upTo)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// closeRows closes rows and returns the error that ended them, if any.
func closeRows(rows *sql.Rows) error {
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}
