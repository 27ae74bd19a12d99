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
// may start at once, so they queue on a lock that dies with the process
// holding it: a PostgreSQL advisory lock (a session lock, released when the
// connection closes), taken before bun creates its own tables (which two
// concurrent creators race on), or, on SQLite, an exclusive flock on a file
// beside the database. bun's own lock is a row in a table, which a crash
// mid-start leaves behind for every later start to wait on; it is not used.
func Migrate(ctx context.Context, db *bun.DB, side migrations.Side) error {
	unlock, err := lockMigrations(ctx, db, side)
	if err != nil {
		return fmt.Errorf("lock %s migrations: %w", side, err)
	}
	defer unlock()
	m, err := Migrator(ctx, db, side)
	if err != nil {
		return err
	}
	// bun reads the applied set under the lock, so an instance that waited
	// applies only what the one before it left.
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s side: %w", side, err)
	}
	return nil
}

// lockMigrations takes the migration lock of one side of db and returns
// its release.
func lockMigrations(ctx context.Context, db *bun.DB, side migrations.Side) (func(), error) {
	if DialectName(db) == Postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		key := "staircase migrate " + string(side)
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext(?))", key); err != nil {
			conn.Close()
			return nil, err
		}
		return func() {
			// Closing the session releases the lock too, should the unlock fail.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext(?))", key)
			conn.Close()
		}, nil
	}
	var file string
	if err := db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return nil, err
	}
	if file == "" { // an in-memory database has no one to share it with
		return func() {}, nil
	}
	return lockFile(ctx, file+".migrate-lock")
}
