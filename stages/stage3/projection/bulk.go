package projection

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

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
	// dialect is the database's (sqlstore.SQLite or sqlstore.Postgres).
	dialect string
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

// pgStmtRows is how many rows one multi-row INSERT writes on PostgreSQL:
// 500 rows of 12 columns make 6,000 parameters, within its 65,535.
const pgStmtRows = 500

// rowsPerStatement is how many rows of cols columns one multi-row INSERT
// writes on dialect.
func rowsPerStatement(dialect string, cols int) int {
	if dialect == sqlstore.Postgres {
		return pgStmtRows
	}
	return max(1, sqliteStmtVars/cols)
}

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
		dialect := sqlstore.DialectName(db)
		b := &Bulk{tx: tx, conn: conn, pg: dialect == sqlstore.Postgres, dialect: dialect, stmts: map[string]*sql.Stmt{}}
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
	per := rowsPerStatement(sqlstore.SQLite, len(cols))
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
	s, err := b.tx.Tx.PrepareContext(ctx, bulkInsert{table: table, columns: cols}.text(sqlstore.SQLite, k))
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

// The columns of the rows written in bulk.
var (
	viewColumns = []string{"id", "customer", "address", "currency", "status", "version", "line_count",
		"total_cents", "lines", "created_at", "updated_at", "deleted"}
	historyColumns   = []string{"order_id", "version", "type", "occurred_at", "text"}
	dashOrderColumns = []string{"id", "version", "customer", "currency", "status", "total_cents", "deleted"}
)

func (b *Bulk) insertViews(ctx context.Context, table string, rows []*view) error {
	return b.insert(ctx, table, viewColumns, len(rows), func(i int, dst []any) []any {
		return viewValues(b.dialect, dst, rows[i])
	})
}

func (b *Bulk) insertHistory(ctx context.Context, table string, rows []*history) error {
	return b.insert(ctx, table, historyColumns, len(rows), func(i int, dst []any) []any {
		return historyValues(b.dialect, dst, rows[i])
	})
}

func (b *Bulk) insertDashOrders(ctx context.Context, table string, rows []*dashOrder) error {
	return b.insert(ctx, table, dashOrderColumns, len(rows), func(i int, dst []any) []any {
		d := rows[i]
		return append(dst, idValue(b.dialect, d.ID), d.Version, d.Customer, d.Currency, string(d.Status), d.TotalCents, d.Deleted)
	})
}
