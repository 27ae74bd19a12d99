package sqlstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// TestRunInTxAgainOutlivesADeadlock: two transactions update two rows in
// opposite orders, each waiting for the other's first update before its
// second. PostgreSQL ends one of them for the deadlock (Conflicted);
// RunInTxAgain runs it again, and both changes land once.
func TestRunInTxAgainOutlivesADeadlock(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqltest.Postgres(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE pair (id int PRIMARY KEY, n int NOT NULL); INSERT INTO pair VALUES (1, 0), (2, 0)"); err != nil {
		t.Fatal(err)
	}
	var firstDone sync.WaitGroup
	firstDone.Add(2)
	var conflicts atomic.Int32
	update := func(tx bun.Tx, id int) error {
		_, err := tx.ExecContext(ctx, "UPDATE pair SET n = n + 1 WHERE id = ?", id)
		return err
	}
	run := func(first, second int) error {
		attempt := 0
		return sqlstore.RunInTxAgain(ctx, db, 5, func(ctx context.Context, tx bun.Tx) error {
			attempt++
			if err := update(tx, first); err != nil {
				return err
			}
			if attempt == 1 {
				firstDone.Done()
				firstDone.Wait() // both hold their first row: each waits for the other's next
			}
			err := update(tx, second)
			if sqlstore.Conflicted(err) {
				conflicts.Add(1)
			}
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(1, 2) }()
	go func() { errs <- run(2, 1) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a transaction failed for good: %v", err)
		}
	}
	if conflicts.Load() == 0 {
		t.Fatal("no deadlock happened: the test proves nothing")
	}
	var ns []int
	if err := db.NewRaw("SELECT n FROM pair ORDER BY id").Scan(ctx, &ns); err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0] != 2 || ns[1] != 2 {
		t.Fatalf("rows counted %v, want [2 2]: each change once", ns)
	}
}
