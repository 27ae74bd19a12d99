package projection_test

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// TestFoldInBulkEqualsApply folds events an order at a time into bare
// shadow tables, writes them in bulk over several transactions, indexes the
// tables and swaps them in: the rows, the schema, the list's pages and the
// search are those of the same events applied one by one.
func TestFoldInBulkEqualsApply(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read, want := openRead(t, b), openRead(t, b)
		migrated := schema(t, want, projection.Live)
		events := life(t, 300, 41)
		applyAll(t, want, projection.Live, events)

		// By order, as the change log is read for a rebuild.
		byOrder := slices.Clone(events)
		slices.SortStableFunc(byOrder, func(a, b order.Event) int {
			return cmp.Or(strings.Compare(a.OrderID.String(), b.OrderID.String()), cmp.Compare(a.OrderVersion, b.OrderVersion))
		})
		if err := projection.CreateBareShadow(ctx, read); err != nil {
			t.Fatal(err)
		}
		if got := schema(t, read, projection.Shadow); reflect.DeepEqual(got, migrated) {
			t.Fatal("the bare shadow tables have every index already")
		}
		fold := projection.NewFold(projection.Shadow)
		write := func(f *projection.Fold) {
			t.Helper()
			err := projection.InBulk(ctx, read, func(ctx context.Context, _ bun.Tx, b *projection.Bulk) error { return f.Flush(ctx, b) })
			if err != nil {
				t.Fatal(err)
			}
		}
		for i, e := range byOrder {
			if out, err := fold.Apply(e); err != nil || out != projection.OutcomeApplied {
				t.Fatalf("fold %s v%d: %v, %v", e.Type, e.OrderVersion, out, err)
			}
			// Again: a duplicate changes nothing.
			if out, err := fold.Apply(e); err != nil || out != projection.OutcomeDuplicate {
				t.Fatalf("fold %s v%d again: %v, %v", e.Type, e.OrderVersion, out, err)
			}
			if i%97 == 0 {
				write(fold.Ready()) // the order being folded goes on
			}
		}
		if err := fold.End(); err != nil {
			t.Fatal(err)
		}
		write(fold)
		if err := projection.IndexShadow(ctx, read); err != nil {
			t.Fatal(err)
		}
		if err := projection.SwapShadow(ctx, read); err != nil {
			t.Fatal(err)
		}
		if got := schema(t, read, projection.Live); !reflect.DeepEqual(got, migrated) {
			t.Fatalf("schema after the swap\n got %q\nwant %q", got, migrated)
		}
		sameDump(t, dump(t, read, projection.Live), dump(t, want, projection.Live))
		for _, q := range []string{"", "customer 1", "mer 3", "nobody"} {
			got, gotCursors := allSummaries(t, projection.NewReadModel(read), order.SummaryQuery{Q: q, Limit: 50})
			exp, expCursors := allSummaries(t, projection.NewReadModel(want), order.SummaryQuery{Q: q, Limit: 50})
			if !reflect.DeepEqual(got, exp) || !reflect.DeepEqual(gotCursors, expCursors) {
				t.Fatalf("list %q: %d orders after the bulk load, %d applied one by one", q, len(got), len(exp))
			}
		}
		// The projector goes on with the swapped-in tables.
		applyAll(t, read, projection.Live, life(t, 3, 42))
	})
}
