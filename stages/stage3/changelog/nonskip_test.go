package changelog_test

import (
	"context"
	"testing"

	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// TestPostgresReadNeverSkipsAnOpenTransaction is the trap a change log read
// by seq alone falls into: transaction A takes seq 1 and stays open, B takes
// seq 2 and commits. A reader that took B now would move its position past
// A's row and never see it. Read must hold B back until A has ended.
func TestPostgresReadNeverSkipsAnOpenTransaction(t *testing.T) {
	db := sqltest.Open(t, sqltest.Backend{Name: "postgres", URL: sqltest.Postgres}, migrations.Write)
	ctx := context.Background()
	a, b := life(1), life(1)

	txA, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback() //nolint:errcheck // committed below
	appendEvents(t, txA, a)

	txB, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, txB, b)
	if err := txB.Commit(); err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	if err := db.NewRaw("SELECT seq FROM change_log ORDER BY seq").Scan(ctx, &seqs); err != nil || len(seqs) != 1 {
		t.Fatalf("committed rows: %v, %v", seqs, err)
	}

	got, err := changelog.Read(ctx, db, changelog.Position{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("with A still open Read returned %d entries (first %s seq %d): B must wait for A",
			len(got), got[0].Event.ID, got[0].Seq)
	}

	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	entries := readAll(t, db, changelog.Position{}, 10, 2)
	if len(entries) != 2 || entries[0].Event.ID != a[0].ID || entries[1].Event.ID != b[0].ID {
		t.Fatalf("after A committed Read returned %+v, want A then B", entries)
	}
	if !(entries[0].Seq < entries[1].Seq && entries[0].TxID < entries[1].TxID) {
		t.Fatalf("A at %+v, B at %+v: want A below B in seq and tx_id", entries[0].Position, entries[1].Position)
	}
	if more, err := changelog.Read(ctx, db, entries[1].Position, 10); err != nil || len(more) != 0 {
		t.Fatalf("read after B: %d, %v", len(more), err)
	}
}
