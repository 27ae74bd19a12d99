package projection_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// TestShadowIsSwappedIn fills a shadow copy while the live tables serve,
// swaps it in, and does it twice, checking that the live tables end with
// the schema the migrations made — columns, keys, index names and
// definitions.
func TestShadowIsSwappedIn(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read, fresh := openRead(t, b), openRead(t, b)
		migrated := schema(t, fresh, projection.Live)
		rm := projection.NewReadModel(read)

		old := life(t, 10, 21)
		applyAll(t, read, projection.Live, old)
		for round := range 2 {
			if err := projection.CreateShadow(ctx, read); err != nil {
				t.Fatal(err)
			}
			if got, want := schema(t, read, projection.Shadow), migrated; !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: shadow schema\n got %q\nwant %q", round, got, want)
			}
			next := life(t, 5, uint64(22+round))
			applyAll(t, read, projection.Shadow, next)
			if p, _ := rm.OrderSummaries(ctx, order.SummaryQuery{}); len(p.Orders) != count(old) {
				t.Fatalf("round %d: live shows %d orders before the swap, want %d", round, len(p.Orders), count(old))
			}
			want := dump(t, read, projection.Shadow)

			if err := projection.SwapShadow(ctx, read); err != nil {
				t.Fatal(err)
			}
			sameDump(t, dump(t, read, projection.Live), want)
			if got := schema(t, read, projection.Live); !reflect.DeepEqual(got, migrated) {
				t.Fatalf("round %d: live schema after the swap\n got %q\nwant %q", round, got, migrated)
			}
			if n := tableCount(t, read, projection.Shadow.Orders) + tableCount(t, read, projection.Shadow.History); n != 0 {
				t.Fatalf("round %d: %d shadow tables left", round, n)
			}
			p, err := rm.OrderSummaries(ctx, order.SummaryQuery{})
			if err != nil || len(p.Orders) != count(next) {
				t.Fatalf("round %d: live shows %d orders after the swap, want %d (%v)", round, len(p.Orders), count(next), err)
			}
			if _, err := rm.OrderDetail(ctx, old[0].OrderID); order.ErrorCode(err) != order.ENOTFOUND {
				t.Fatalf("round %d: an old order is still there: %v", round, err)
			}
			if _, err := rm.OrderDetail(ctx, p.Orders[0].ID); err != nil {
				t.Fatal(err)
			}
			// The live tables take events as before.
			if _, err := projection.Apply(ctx, read, projection.Live, old[0]); err != nil {
				t.Fatal(err)
			}
			old = append(next, old[0])
		}
	})
}

// count is how many orders events leave undeleted.
func count(events []order.Event) int {
	alive := map[order.ID]bool{}
	for _, e := range events {
		_, deleted := e.Payload.(order.OrderDeleted)
		alive[e.OrderID] = !deleted
	}
	n := 0
	for _, a := range alive {
		if a {
			n++
		}
	}
	return n
}

func tableCount(t testing.TB, db *bun.DB, table string) int {
	t.Helper()
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if sqlstore.DialectName(db) == sqlstore.Postgres {
		q = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
	}
	var n int
	if err := db.NewRaw(q, table).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// schema describes both tables of t: each column and each index, by name,
// with the table's own name written as TABLE so that copies compare equal.
func schema(t testing.TB, db *bun.DB, tables projection.Tables) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	space := regexp.MustCompile(`\s+`)
	for i, table := range []string{tables.Orders, tables.History} {
		generic := []string{"ORDERS", "HISTORY"}[i]
		name := func(s string) string {
			s = strings.ReplaceAll(s, `"`, "")
			s = strings.ReplaceAll(s, "sqlite_autoindex_"+table, "sqlite_autoindex_"+generic)
			s = regexp.MustCompile(`\b`+regexp.QuoteMeta(table)).ReplaceAllString(s, generic)
			return space.ReplaceAllString(s, " ")
		}
		var cols, idx []struct {
			A, B, C, D string
		}
		if sqlstore.DialectName(db) == sqlstore.Postgres {
			err := db.NewRaw(`SELECT column_name AS a, data_type AS b, is_nullable AS c, COALESCE(column_default, '') AS d
				FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table).Scan(ctx, &cols)
			if err != nil {
				t.Fatal(err)
			}
			err = db.NewRaw(`SELECT indexname AS a, indexdef AS b, '' AS c, '' AS d FROM pg_indexes
				WHERE schemaname = current_schema() AND tablename = ?`, table).Scan(ctx, &idx)
			if err != nil {
				t.Fatal(err)
			}
			var cons []struct{ A, B, C, D string }
			err = db.NewRaw(`SELECT conname AS a, pg_get_constraintdef(oid) AS b, '' AS c, '' AS d FROM pg_constraint
				WHERE conrelid = ?::regclass`, table).Scan(ctx, &cons)
			if err != nil {
				t.Fatal(err)
			}
			idx = append(idx, cons...)
		} else {
			err := db.NewRaw(`SELECT name AS a, type AS b, CAST("notnull" AS TEXT) AS c, COALESCE(dflt_value, '') || ' pk' || pk AS d
				FROM pragma_table_info(?) ORDER BY cid`, table).Scan(ctx, &cols)
			if err != nil {
				t.Fatal(err)
			}
			err = db.NewRaw(`SELECT name AS a, COALESCE(sql, '') AS b, '' AS c, '' AS d FROM sqlite_master
				WHERE type = 'index' AND tbl_name = ?`, table).Scan(ctx, &idx)
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cols {
			out = append(out, fmt.Sprintf("%s column %s %s %s %s", generic, c.A, c.B, c.C, c.D))
		}
		for _, x := range idx {
			out = append(out, fmt.Sprintf("%s index %s: %s", generic, name(x.A), name(x.B)))
		}
	}
	sort.Strings(out)
	return out
}
