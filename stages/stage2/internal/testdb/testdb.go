// Package testdb gives tests migrated write databases: a SQLite file always,
// and a fresh PostgreSQL database when STAIRCASE_TEST_POSTGRES holds the URL
// of a server to make it on (it is dropped when the test ends).
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/migrations"
)

// EnvPostgres names the variable holding the PostgreSQL server's URL.
const EnvPostgres = "STAIRCASE_TEST_POSTGRES"

// DB is one migrated test database.
type DB struct {
	Name string // "sqlite" or "postgres"
	*bun.DB
}

// All returns a migrated SQLite database and, when EnvPostgres is set, a
// migrated PostgreSQL one, each closed (and dropped) at the end of t.
func All(t testing.TB) []DB {
	t.Helper()
	dbs := []DB{{Name: sqlstore.SQLite, DB: SQLite(t)}}
	if os.Getenv(EnvPostgres) != "" {
		dbs = append(dbs, DB{Name: sqlstore.Postgres, DB: Postgres(t)})
	}
	return dbs
}

// SQLite returns a migrated SQLite database in a temporary folder.
func SQLite(t testing.TB) *bun.DB {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "write.db"))
}

// Postgres returns a migrated database made for t on the server that
// EnvPostgres names; it skips t if the variable is not set.
func Postgres(t testing.TB) *bun.DB {
	t.Helper()
	server := os.Getenv(EnvPostgres)
	if server == "" {
		t.Skip(EnvPostgres + " is not set")
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "staircase_t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return open(t, u.String())
}

func open(t testing.TB, dbURL string) *bun.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, dbURL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(ctx, db, migrations.Write); err != nil {
		t.Fatal(err)
	}
	return db
}
