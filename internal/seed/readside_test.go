package seed_test

import (
	"context"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/seed"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

const relay = "relay:test.events"

func relayAt(t *testing.T, write *bun.DB) changelog.Position {
	t.Helper()
	p, err := changelog.LoadPosition(context.Background(), write, relay)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rows(t *testing.T, db *bun.DB, table string) int64 {
	t.Helper()
	n, err := db.NewSelect().TableExpr(table).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOrdersAndReadSideBuildsAnEmptyReadSide: orders already in the
// database of record whose events the relay never published, and an empty
// read database: the seed builds the read side with both the old and the
// new orders, and the relay goes on after all of them.
func TestOrdersAndReadSideBuildsAnEmptyReadSide(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
			if _, _, err := seed.Orders(ctx, write, 150, 1, nil); err != nil {
				t.Fatal(err)
			}
			res, err := seed.OrdersAndReadSide(ctx, write, read, relay, 250, 2, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Built {
				t.Fatalf("read side not built: %s", res.Why)
			}
			if n := rows(t, read, "order_views"); n != 400 {
				t.Fatalf("%d orders on the read side, want 400", n)
			}
			if n := rows(t, read, "dashboard_orders"); n != 400 {
				t.Fatalf("%d orders on the dashboard, want 400", n)
			}
			head, err := changelog.HeadPosition(ctx, write)
			if err != nil {
				t.Fatal(err)
			}
			if got := relayAt(t, write); got != head || res.Head != head || head == (changelog.Position{}) {
				t.Fatalf("relay at %+v, reported %+v, head %+v", got, res.Head, head)
			}
		})
	}
}

// TestOrdersAndReadSideLeavesARunningRelayAlone: on PostgreSQL another
// session holding the relay's lock (an app serving the database) keeps the
// seed from touching the read side or the relay's position.
func TestOrdersAndReadSideLeavesARunningRelayAlone(t *testing.T) {
	bs := sqltest.Backends()
	if len(bs) < 2 {
		t.Skip(sqltest.EnvPostgres + " is not set: the relay's lock is PostgreSQL's")
	}
	b := bs[1]
	ctx := context.Background()
	write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
	conn, err := write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var held bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext(?))", relay).Scan(&held); err != nil || !held {
		t.Fatalf("take the relay's lock: %v %v", held, err)
	}
	res, err := seed.OrdersAndReadSide(ctx, write, read, relay, 100, 3, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Built || !strings.Contains(res.Why, "relay runs") {
		t.Fatalf("seed beside a running relay: built %v, %q", res.Built, res.Why)
	}
	if n := rows(t, write, "orders"); n != 100 {
		t.Fatalf("%d orders seeded, want 100", n)
	}
	if n := rows(t, read, "order_views"); n != 0 {
		t.Fatalf("%d orders put on the read side beside a running relay", n)
	}
	if p := relayAt(t, write); p != (changelog.Position{}) {
		t.Fatalf("relay position moved to %+v beside a running relay", p)
	}
}
