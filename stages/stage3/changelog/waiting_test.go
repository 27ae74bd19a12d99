package changelog_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// A transaction left open holds a change-log reader back on PostgreSQL
// (Read takes only rows below the oldest running transaction). One in
// another database on the same server cannot write to this change log: it
// must not hold the reader back. One in the write database must, and
// Waiting must say which.
func TestPostgresReadWaitsOnlyForTransactionsOfItsDatabase(t *testing.T) {
	ctx := context.Background()
	pg := sqltest.Backend{Name: "postgres", URL: sqltest.Postgres}
	db := sqltest.Open(t, pg, migrations.Write)
	other, err := sql.Open("pgx", pg.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })

	read := func(after changelog.Position) []changelog.Entry {
		t.Helper()
		es, err := changelog.Read(ctx, db, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	// openWriting begins a transaction that has written (it holds a
	// transaction id) and leaves it open.
	openWriting := func(conn *sql.DB) (*sql.Tx, int) {
		t.Helper()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback() }) //nolint:errcheck // may be ended already
		var pid int
		var xid string
		if err := tx.QueryRowContext(ctx, "SELECT pg_backend_pid(), CAST(pg_current_xact_id() AS text)").Scan(&pid, &xid); err != nil {
			t.Fatal(err)
		}
		return tx, pid
	}

	t.Run("another_databases_transaction_holds_nothing_back", func(t *testing.T) {
		openWriting(other)
		appendEvents(t, db, life(2))
		if es := read(changelog.Position{}); len(es) != 2 {
			t.Fatalf("read %d entries while another database has a transaction open, want 2", len(es))
		}
		w, err := changelog.Waiting(ctx, db)
		if err != nil || w.Waiting {
			t.Fatalf("waiting: %+v, %v; want nothing held", w, err)
		}
	})

	t.Run("a_transaction_of_the_write_database_holds_the_later_rows_back", func(t *testing.T) {
		all := read(changelog.Position{})
		last := all[len(all)-1].Position
		long, pid := openWriting(db.DB)
		appendEvents(t, db, life(3))
		time.Sleep(1100 * time.Millisecond)
		if es := read(last); len(es) != 0 {
			t.Fatalf("read %d entries past a transaction still open, want none: it may yet add rows before them", len(es))
		}
		w, err := changelog.Waiting(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		var name string
		if err := db.NewRaw("SELECT current_database()").Scan(ctx, &name); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("waiting for transaction pid %d in database %s, open ", pid, name)
		if !w.Waiting || w.PID != pid || w.Database != name || w.Held != 3 || w.Age < time.Second || !strings.HasPrefix(w.Reason, want) {
			t.Fatalf("waiting: %+v; want pid %d in %s, 3 held, open ≥ 1 s, reason %q…", w, pid, name, want)
		}
		if err := long.Rollback(); err != nil {
			t.Fatal(err)
		}
		if es := read(last); len(es) != 3 {
			t.Fatalf("read %d entries once the transaction ended, want 3", len(es))
		}
		if w, err := changelog.Waiting(ctx, db); err != nil || w.Waiting {
			t.Fatalf("waiting: %+v, %v; want nothing held", w, err)
		}
	})
}
