// Package sqlstore opens Staircase's SQL databases with bun: SQLite files
// (pure Go, through bun's sqliteshim) by default, PostgreSQL (through pgx's
// database/sql driver) when the URL says postgres://. Everything above it
// speaks bun and does not care which.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"
	"github.com/uptrace/bun/migrate"

	"github.com/staircase/staircase/migrations"
)

// Dialect names, as the migrations folders use them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// IsPostgres reports whether a database URL selects PostgreSQL.
func IsPostgres(dbURL string) bool {
	return strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://")
}

// Open opens the database a URL names: a postgres:// URL for PostgreSQL;
// "sqlite:PATH", a plain path, or "" (then defaultPath) for a SQLite file,
// made with its folder if missing and opened in WAL mode with a busy
// timeout, foreign keys on and immediate write transactions, so that
// concurrent writers queue instead of failing.
func Open(ctx context.Context, dbURL, defaultPath string) (*bun.DB, error) {
	var db *bun.DB
	if IsPostgres(dbURL) {
		sqldb, err := sql.Open("pgx", dbURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqldb.SetMaxOpenConns(20)
		sqldb.SetMaxIdleConns(10)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, pgdialect.New())
	} else {
		path := strings.TrimPrefix(dbURL, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			path = defaultPath
		}
		if path == "" {
			return nil, errors.New("open sqlite: no path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		sqldb, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		// One writer at a time is all SQLite allows; a small pool lets
		// readers go on beside it in WAL mode.
		sqldb.SetMaxOpenConns(4)
		sqldb.SetMaxIdleConns(4)
		sqldb.SetConnMaxLifetime(0)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return db, nil
}

// DialectName returns "sqlite" or "postgres" for db.
func DialectName(db bun.IDB) string {
	if db.Dialect().Name() == dialect.PG {
		return Postgres
	}
	return SQLite
}

// Migrator returns bun's migrator for one side of the application on db.
func Migrator(ctx context.Context, db *bun.DB, side migrations.Side) (*migrate.Migrator, error) {
	ms, err := migrations.For(side, DialectName(db))
	if err != nil {
		return nil, err
	}
	m := migrate.NewMigrator(db, ms,
		migrate.WithTableName("bun_migrations_"+string(side)),
		migrate.WithLocksTableName("bun_migration_locks_"+string(side)),
		migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("init migrations: %w", err)
	}
	return m, nil
}

// Migrate brings one side's schema on db up to date. Several instances
// may start at once: on PostgreSQL they queue on an advisory lock, taken
// before bun creates its own tables (which two concurrent creators race
// on); on SQLite they wait for bun's lock row in turn.
func Migrate(ctx context.Context, db *bun.DB, side migrations.Side) error {
	if DialectName(db) == Postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate %s side: %w", side, err)
		}
		defer conn.Close()
		key := "staircase migrate " + string(side)
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext(?))", key); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext(?))", key) //nolint:errcheck // closing the session releases it too
	}
	m, err := Migrator(ctx, db, side)
	if err != nil {
		return err
	}
	// bun's lock is a try-lock: wait for another instance's migration
	// instead of failing.
	for wait, deadline := 20*time.Millisecond, time.Now().Add(time.Minute); ; wait = min(wait*2, time.Second) {
		err := m.Lock(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lock migrations: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	defer m.Unlock(ctx) //nolint:errcheck // the lock row goes away with the next successful unlock
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s side: %w", side, err)
	}
	return nil
}
