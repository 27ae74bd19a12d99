package projection_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// TestErrorLogParksHoldsAndReplays parks a failing event of one order with
// its later events held behind it, and one of another order that meets a
// gap; a dry run reports and changes nothing; a replay applies the first
// order's events in order and parks the second's again until its gap is
// filled.
func TestErrorLogParksHoldsAndReplays(t *testing.T) {
	backends(t, func(t *testing.T, b sqltest.Backend) {
		ctx := context.Background()
		read := openRead(t, b)
		rm := projection.NewReadModel(read)
		events := life(t, 2, 31) // order 0: placed, changed, shipped, delivered; order 1: placed, changed, shipped
		byEnvelope := map[string]order.Event{}
		var a, bb []order.Event
		for _, e := range events {
			byEnvelope[e.ID.String()] = e
			if e.OrderID == events[0].OrderID {
				a = append(a, e)
			} else {
				bb = append(bb, e)
			}
		}
		decode := func(env []byte) (order.Event, error) {
			e, ok := byEnvelope[string(env)]
			if !ok {
				return e, errors.New("unknown envelope")
			}
			return e, nil
		}
		envelope := func(e order.Event) []byte { return []byte(e.ID.String()) }
		if len(a) < 4 || len(bb) < 3 {
			t.Fatalf("%d and %d events", len(a), len(bb))
		}
		applyAll(t, read, projection.Live, a[:1])

		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		held := func(id order.ID) bool {
			t.Helper()
			h, err := projection.Held(ctx, read, id)
			must(err)
			return h
		}
		if held(a[0].OrderID) {
			t.Fatal("held before anything was parked")
		}
		must(projection.Park(ctx, read, a[1], envelope(a[1]), errors.New("boom"), 5))
		if !held(a[0].OrderID) || held(bb[0].OrderID) {
			t.Fatal("Held does not follow the parked event")
		}
		for _, e := range a[2:] {
			must(projection.Hold(ctx, read, e, envelope(e)))
		}
		must(projection.Park(ctx, read, bb[1], envelope(bb[1]), errors.New("gap"), 3))
		must(projection.Hold(ctx, read, bb[2], envelope(bb[2])))
		// Parking or holding again updates the entry, adds none.
		must(projection.Park(ctx, read, a[1], envelope(a[1]), errors.New("boom again"), 7))
		must(projection.Hold(ctx, read, a[2], envelope(a[2])))

		entries, err := projection.ErrorLog(ctx, read)
		must(err)
		if len(entries) != len(a)-1+2 {
			t.Fatalf("%d entries", len(entries))
		}
		first, err := projection.ErrorEntryByID(ctx, read, entries[0].ID)
		must(err)
		if first.EventID != a[1].ID || first.OrderVersion != 2 || first.Type != "OrderLinesChanged" || first.Error != "boom again" ||
			first.Attempts != 7 || first.Status != projection.StatusParked || first.Envelope != string(envelope(a[1])) ||
			first.LastFailedAt.Before(first.FirstFailedAt) {
			t.Fatalf("first entry %+v", first)
		}
		if entries[1].Status != projection.StatusHeld || entries[1].OrderVersion != 3 {
			t.Fatalf("second entry %+v", entries[1])
		}
		if _, err := projection.ErrorEntryByID(ctx, read, 99999); order.ErrorCode(err) != order.ENOTFOUND {
			t.Fatalf("missing entry: %v", err)
		}

		t.Run("dry_run_changes_nothing", func(t *testing.T) {
			before := dump(t, read, projection.Live)
			report, err := projection.Replay(ctx, read, projection.Live, decode, projection.ReplayAll, true)
			must(err)
			var texts []string
			for _, s := range report.Steps {
				texts = append(texts, s.Text)
			}
			wantA := []string{}
			for _, e := range a[1:] {
				wantA = append(wantA, fmt.Sprintf("would apply v%d %s", e.OrderVersion, e.Type))
			}
			wantB := []string{"would still fail: gap at v1", "would stay held behind v2 OrderLinesChanged"}
			if !containsInOrder(texts, wantA) || !containsInOrder(texts, wantB) || len(texts) != len(wantA)+len(wantB) {
				t.Fatalf("dry run steps %q", texts)
			}
			if !report.DryRun || report.Applied != len(a)-1 || report.Failed != 1 || report.Waiting != 1 {
				t.Fatalf("report %+v", report)
			}
			sameDump(t, dump(t, read, projection.Live), before)
			after, err := projection.ErrorLog(ctx, read)
			must(err)
			if !reflect.DeepEqual(after, entries) {
				t.Fatalf("error log changed:\n%+v\n%+v", after, entries)
			}
		})

		t.Run("replay_applies_in_order", func(t *testing.T) {
			report, err := projection.Replay(ctx, read, projection.Live, decode, projection.ReplayAll, false)
			must(err)
			if report.DryRun || report.Applied != len(a)-1 || report.Failed != 1 || report.Waiting != 1 {
				t.Fatalf("report %+v", report)
			}
			if v, _, _ := rm.Version(ctx, a[0].OrderID); v != len(a) {
				t.Fatalf("order A at v%d, want v%d", v, len(a))
			}
			d, err := rm.OrderDetail(ctx, a[0].OrderID)
			must(err)
			if len(d.History) != len(a) || d.Status != order.Delivered {
				t.Fatalf("order A: %s, %d history rows", d.Status, len(d.History))
			}
			if held(a[0].OrderID) || !held(bb[0].OrderID) {
				t.Fatal("after replay: A should be free, B still held")
			}
			entries, err := projection.ErrorLog(ctx, read)
			must(err)
			for _, e := range entries {
				want := projection.StatusReplayed
				switch e.EventID {
				case bb[1].ID:
					want = projection.StatusParked
					if e.Attempts != 4 || !strings.Contains(e.Error, "missing") {
						t.Fatalf("B's entry after a failed replay: %+v", e)
					}
				case bb[2].ID:
					want = projection.StatusHeld
				}
				if e.Status != want {
					t.Fatalf("entry v%d of %s: %s, want %s", e.OrderVersion, e.OrderID, e.Status, want)
				}
			}

			// Once B's missing event is in, replaying its entry applies the rest.
			applyAll(t, read, projection.Live, bb[:1])
			var id int64
			for _, e := range entries {
				if e.EventID == bb[1].ID {
					id = e.ID
				}
			}
			report, err = projection.Replay(ctx, read, projection.Live, decode, id, false)
			must(err)
			if report.Applied != 2 || report.Failed != 0 {
				t.Fatalf("report %+v", report)
			}
			if v, _, _ := rm.Version(ctx, bb[0].OrderID); v != 3 || held(bb[0].OrderID) {
				t.Fatalf("order B at v%d", v)
			}
			// Nothing is left to replay.
			report, err = projection.Replay(ctx, read, projection.Live, decode, projection.ReplayAll, false)
			if err != nil || len(report.Steps) != 0 {
				t.Fatalf("%+v %v", report, err)
			}
		})
	})
}

// containsInOrder reports whether want appears in got as a subsequence.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
