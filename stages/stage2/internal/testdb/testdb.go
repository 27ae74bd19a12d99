// Package testdb gives stage 2's tests migrated write databases on every
// backend sqltest offers: a SQLite file always, a fresh PostgreSQL database
// when STAIRCASE_TEST_POSTGRES is set.
package testdb

import (
	"context"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
)

// DB is one migrated test database.
type DB struct {
	Name string // "sqlite" or "postgres"
	*bun.DB
}

// All returns a migrated write database per backend, each closed (and
// dropped) at the end of t.
func All(t testing.TB) []DB {
	t.Helper()
	var dbs []DB
	for _, b := range sqltest.Backends() {
		dbs = append(dbs, DB{Name: b.Name, DB: Open(t, b)})
	}
	return dbs
}

// Open returns a migrated write database on backend b.
func Open(t testing.TB, b sqltest.Backend) *bun.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, b.URL(t), sqltest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlstore.Migrate(ctx, db, migrations.Write); err != nil {
		t.Fatal(err)
	}
	return db
}
