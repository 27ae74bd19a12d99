package projection

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
)

// Bulk writes rows into tables that nobody else writes — a rebuild's
// shadow tables — as fast as the driver takes them: on PostgreSQL with COPY,
// on SQLite with INSERTs of a few rows each, prepared once per transaction
// and size. The rows are plain inserts: a
// table written through Bulk must not have them already. A Bulk belongs to
// one transaction (InBulk).
type Bulk struct {
	tx   bun.Tx
	conn bun.Conn // the transaction's connection, for COPY
	pg   bool
	// stmts are the prepared INSERTs on SQLite, by table and row count.
	stmts map[string]*sql.Stmt
	args  []any
}

// sqliteStmtVars is about how many parameters one INSERT binds on SQLite.
// Far below SQLite's limit (32,766): the driver (modernc.org/sqlite) looks
// each parameter up among all of a statement's arguments, so a statement
// costs the square of its parameters. Past a few rows a statement, rows
// cost the same however they are sent — SQLite's own work per row — and
// this many keeps the lookups a small part of it.
const sqliteStmtVars = 256

// InBulk runs fn in a transaction of db on a connection of its own, with a
// Bulk writing in that transaction: what fn writes through tx and through
// the Bulk commits or rolls back together.
func InBulk(ctx context.Context, db *bun.DB, fn func(ctx context.Context, tx bun.Tx, b *Bulk) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		b := &Bulk{tx: tx, conn: conn, pg: sqlstore.DialectName(db) == sqlstore.Postgres, stmts: map[string]*sql.Stmt{}}
		defer func() {
			for _, s := range b.stmts {
				_ = s.Close()
			}
		}()
		return fn(ctx, tx, b)
	})
}

// insert writes n rows into table's columns cols; row appends the values
// of the i-th row to dst, in the columns' order.
func (b *Bulk) insert(ctx context.Context, table string, cols []string, n int, row func(i int, dst []any) []any) error {
	if n == 0 {
		return nil
	}
	if b.pg {
		return b.copyFrom(ctx, table, cols, n, row)
	}
	per := max(1, sqliteStmtVars/len(cols))
	for start := 0; start < n; start += per {
		k := min(per, n-start)
		stmt, err := b.prepared(ctx, table, cols, k)
		if err != nil {
			return err
		}
		args := b.args[:0]
		for i := start; i < start+k; i++ {
			args = row(i, args)
		}
		b.args = args
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert %d rows into %s: %w", k, table, err)
		}
	}
	return nil
}

// prepared returns the INSERT of k rows into table, prepared in the
// transaction the first time it is asked for.
func (b *Bulk) prepared(ctx context.Context, table string, cols []string, k int) (*sql.Stmt, error) {
	key := fmt.Sprintf("%s/%d", table, k)
	if s, ok := b.stmts[key]; ok {
		return s, nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var q strings.Builder
	q.WriteString("INSERT INTO " + quote(table) + " (")
	for i, c := range cols {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(quote(c))
	}
	q.WriteString(") VALUES ")
	for i := range k {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
	}
	s, err := b.tx.Tx.PrepareContext(ctx, q.String())
	if err != nil {
		return nil, fmt.Errorf("prepare an insert into %s: %w", table, err)
	}
	b.stmts[key] = s
	return s, nil
}

// copyFrom writes the rows with PostgreSQL's COPY, through pgx, in the
// transaction open on the Bulk's connection.
func (b *Bulk) copyFrom(ctx context.Context, table string, cols []string, n int, row func(i int, dst []any) []any) error {
	return b.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("copy into %s: the connection is a %T, not pgx's", table, dc)
		}
		values := make([]any, 0, len(cols))
		_, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			values = row(i, values[:0])
			return values, nil
		}))
		if err != nil {
			return fmt.Errorf("copy %d rows into %s: %w", n, table, err)
		}
		return nil
	})
}

// id is an order ID as the read tables store it: a UUID on PostgreSQL, its
// text on SQLite.
func (b *Bulk) id(id order.ID) any {
	if b.pg {
		return [16]byte(id)
	}
	return id.String()
}

// time is a time as the read tables store it, to the microsecond: on
// SQLite as the text bun writes, so that rows written in bulk and rows
// written by the projector sort and compare alike.
func (b *Bulk) time(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if b.pg {
		return t
	}
	return t.Format("2006-01-02 15:04:05.999999-07:00")
}

// The columns of the rows written in bulk.
var (
	viewColumns = []string{"id", "customer", "address", "currency", "status", "version", "line_count",
		"total_cents", "lines", "created_at", "updated_at", "deleted"}
	historyColumns   = []string{"order_id", "version", "type", "occurred_at", "text"}
	dashOrderColumns = []string{"id", "version", "customer", "currency", "status", "total_cents", "deleted"}
)

func (b *Bulk) insertViews(ctx context.Context, table string, rows []*view) error {
	return b.insert(ctx, table, viewColumns, len(rows), func(i int, dst []any) []any {
		v := rows[i]
		return append(dst, b.id(v.ID), v.Customer, v.Address, v.Currency, string(v.Status), v.Version, v.LineCount,
			v.TotalCents, v.Lines, b.time(v.CreatedAt), b.time(v.UpdatedAt), v.Deleted)
	})
}

func (b *Bulk) insertHistory(ctx context.Context, table string, rows []*history) error {
	return b.insert(ctx, table, historyColumns, len(rows), func(i int, dst []any) []any {
		h := rows[i]
		return append(dst, b.id(h.OrderID), h.Version, h.Type, b.time(h.OccurredAt), h.Text)
	})
}

func (b *Bulk) insertDashOrders(ctx context.Context, table string, rows []*dashOrder) error {
	return b.insert(ctx, table, dashOrderColumns, len(rows), func(i int, dst []any) []any {
		d := rows[i]
		return append(dst, b.id(d.ID), d.Version, d.Customer, d.Currency, string(d.Status), d.TotalCents, d.Deleted)
	})
}
