// Package sqltest gives tests their own databases: a SQLite file in a test
// folder always, and a fresh PostgreSQL database when the environment
// variable STAIRCASE_TEST_POSTGRES holds a server URL.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/migrations"
)

// EnvPostgres names the variable that holds the PostgreSQL server URL.
const EnvPostgres = "STAIRCASE_TEST_POSTGRES"

// Backend is a database engine a test runs on.
type Backend struct {
	Name string
	// URL returns a new empty database's URL ("" for SQLite, which callers
	// then place in their data dir) and drops it when the test ends.
	URL func(t testing.TB) string
}

// Backends lists SQLite and, when configured, PostgreSQL.
func Backends() []Backend {
	bs := []Backend{{Name: "sqlite", URL: func(testing.TB) string { return "" }}}
	if os.Getenv(EnvPostgres) != "" {
		bs = append(bs, Backend{Name: "postgres", URL: Postgres})
	}
	return bs
}

// SQLitePath returns a file path for a SQLite database in a test folder.
func SQLitePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "test.db")
}

// Postgres creates a database on the server STAIRCASE_TEST_POSTGRES names
// and returns its URL; the test is skipped when the variable is empty.
// The database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skip(EnvPostgres + " is not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", EnvPostgres, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "staircase_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open returns a new database on backend b with one side's migrations
// applied, closed when the test ends.
func Open(t testing.TB, b Backend, side migrations.Side) *bun.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, b.URL(t), SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(ctx, db, side); err != nil {
		t.Fatal(err)
	}
	return db
}

// DB is a test database and the backend it runs on.
type DB struct {
	Name string
	*bun.DB
}

// OpenAll returns a migrated database of one side on every backend.
func OpenAll(t testing.TB, side migrations.Side) []DB {
	t.Helper()
	var dbs []DB
	for _, b := range Backends() {
		dbs = append(dbs, DB{Name: b.Name, DB: Open(t, b, side)})
	}
	return dbs
}
