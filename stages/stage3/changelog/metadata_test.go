package changelog_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// TestMetadataTravelsWithTheEvents records events with metadata in the
// context and others without: each entry read back carries what was
// recorded with it, and the history reads all of them.
func TestMetadataTravelsWithTheEvents(t *testing.T) {
	for _, db := range sqltest.OpenAll(t, migrations.Write) {
		t.Run(db.Name, func(t *testing.T) {
			md := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
			ctx := changelog.WithMetadata(context.Background(), map[string]string{"traceparent": "replaced", "other": "kept"})
			ctx = changelog.WithMetadata(ctx, md)
			with, without := life(2), life(1)
			if err := changelog.Append(ctx, db.DB, with); err != nil {
				t.Fatal(err)
			}
			appendEvents(t, db.DB, without)
			entries := readAll(t, db.DB, changelog.Position{}, 10, 3)
			want := map[string]string{"traceparent": md["traceparent"], "other": "kept"}
			for i, e := range entries {
				switch {
				case i < 2 && !reflect.DeepEqual(e.Metadata, want):
					t.Errorf("entry %d has metadata %v, want %v", i, e.Metadata, want)
				case i == 2 && e.Metadata != nil:
					t.Errorf("an entry recorded without metadata has %v", e.Metadata)
				}
			}
			history, err := changelog.ForOrder(context.Background(), db.DB, with[0].OrderID)
			if err != nil || len(history) != 2 {
				t.Fatalf("history: %d events, %v", len(history), err)
			}
		})
	}
}
