package command_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/command"
)

func placeCmd() order.PlaceOrder {
	return order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
		Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 2, UnitPriceCents: 250}}}
}

func place(t *testing.T, h *command.Handlers) order.ID {
	t.Helper()
	cmd := placeCmd()
	ack, err := h.PlaceOrder(context.Background(), cmd)
	if err != nil || ack.Version != 1 || ack.ID != cmd.ID {
		t.Fatalf("place: %+v, %v", ack, err)
	}
	return cmd.ID
}

func TestRepository(t *testing.T) {
	for _, db := range sqltest.OpenAll(t, migrations.Write) {
		t.Run(db.Name, func(t *testing.T) {
			t.Run("two_writers_of_the_same_version_one_wins", func(t *testing.T) {
				testTwoWriters(t, db.DB)
			})
			t.Run("change_log_gets_the_events_in_the_transaction", func(t *testing.T) {
				testChangeLog(t, db.DB)
			})
			t.Run("failing_change_log_rolls_the_change_back", func(t *testing.T) {
				testChangeLogFailure(t, db.DB)
			})
			t.Run("repeated_place_names_the_same_order", func(t *testing.T) {
				testRepeatedPlace(t, db.DB)
			})
			t.Run("stale_expected_version_is_a_conflict_with_the_current_order", func(t *testing.T) {
				testExpectedVersion(t, db.DB)
			})
			t.Run("commands_without_expected_version_all_apply_under_contention", func(t *testing.T) {
				testContention(t, db.DB)
			})
			t.Run("delete_removes_the_order", func(t *testing.T) {
				testDelete(t, db.DB)
			})
		})
	}
}

// testTwoWriters has two writers load the order at the same version and
// decide their change before either saves: the database lets exactly one
// save, and the other learns the order's fresh state.
func testTwoWriters(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	repo := command.NewRepository(db)
	id := place(t, command.New(repo))

	var loaded sync.WaitGroup
	loaded.Add(2)
	errs := make([]error, 2)
	var done sync.WaitGroup
	for i := range 2 {
		done.Add(1)
		go func() {
			defer done.Done()
			errs[i] = repo.Update(ctx, id, func(ctx context.Context, o *order.Order) ([]order.Event, error) {
				if o.Version != 1 {
					t.Errorf("writer %d loaded version %d, want 1", i, o.Version)
				}
				loaded.Done()
				loaded.Wait() // both have loaded version 1 before either saves
				lines := []order.Line{{SKU: "B-" + string(rune('0'+i)), Name: "Gadget", Quantity: i + 1, UnitPriceCents: 100}}
				ev, err := o.ChangeLines(order.ChangeOrderLines{ID: id, Lines: lines}, time.Now())
				return []order.Event{ev}, err
			})
		}()
	}
	done.Wait()

	wins, conflicts := 0, 0
	var conflict *order.Error
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.As(err, &conflict) && conflict.Code == order.ECONFLICT:
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != 1 {
		t.Fatalf("wins %d, conflicts %d: want 1 and 1 (%v)", wins, conflicts, errs)
	}
	if conflict.Current == nil || conflict.Current.Version != 2 {
		t.Fatalf("conflict's current order: %+v, want version 2", conflict.Current)
	}
	stored, _, err := command.Load(ctx, db, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != 2 || len(stored.Lines) != 1 || stored.Lines[0] != conflict.Current.Lines[0] {
		t.Fatalf("stored %+v, conflict current %+v", stored, conflict.Current)
	}
}

func testChangeLog(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	var got []order.Event
	log := func(ctx context.Context, tx bun.Tx, events []order.Event) error {
		// The change is visible inside the transaction that records it.
		var v int
		if err := tx.NewSelect().Table("orders").Column("version").Where("id = ?", events[0].OrderID).Scan(ctx, &v); err != nil {
			return err
		}
		if v != events[len(events)-1].OrderVersion {
			t.Errorf("row at version %d while its event has %d", v, events[len(events)-1].OrderVersion)
		}
		got = append(got, events...)
		return nil
	}
	h := command.New(command.NewRepository(db, command.WithChangeLog(log)))
	id := place(t, h)
	if _, err := h.ShipOrder(ctx, order.ShipOrder{ID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ShipOrder(ctx, order.ShipOrder{ID: id}); order.ErrorCode(err) != order.ECONFLICT {
		t.Fatalf("ship twice: %v", err)
	}
	if len(got) != 2 || got[0].Type != "OrderPlaced" || got[1].Type != "OrderShipped" || got[1].OrderVersion != 2 {
		t.Fatalf("events: %+v", got)
	}
}

func testChangeLogFailure(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	fail := false
	log := func(context.Context, bun.Tx, []order.Event) error {
		if fail {
			return errors.New("change log is full")
		}
		return nil
	}
	h := command.New(command.NewRepository(db, command.WithChangeLog(log)))
	id := place(t, h)
	fail = true
	if _, err := h.CancelOrder(ctx, order.CancelOrder{ID: id}); err == nil {
		t.Fatal("cancel succeeded with a failing change log")
	}
	o, _, err := command.Load(ctx, db, id, false)
	if err != nil || o.Version != 1 || o.Status != order.Placed {
		t.Fatalf("order after failed cancel: %+v, %v", o, err)
	}
	cmd := placeCmd()
	if _, err := h.PlaceOrder(ctx, cmd); err == nil {
		t.Fatal("place succeeded with a failing change log")
	}
	if _, _, err := command.Load(ctx, db, cmd.ID, false); order.ErrorCode(err) != order.ENOTFOUND {
		t.Fatalf("order after failed place: %v", err)
	}
}

func testRepeatedPlace(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	h := command.New(command.NewRepository(db))
	cmd := placeCmd()
	for range 2 {
		ack, err := h.PlaceOrder(ctx, cmd)
		if err != nil || ack.Version != 1 {
			t.Fatalf("place: %+v, %v", ack, err)
		}
	}
	other := cmd
	other.Customer = "Grace"
	if _, err := h.PlaceOrder(ctx, other); order.ErrorCode(err) != order.ECONFLICT {
		t.Fatalf("place other content under the same ID: %v", err)
	}
}

func testExpectedVersion(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	h := command.New(command.NewRepository(db))
	id := place(t, h)
	if _, err := h.ShipOrder(ctx, order.ShipOrder{ID: id, ExpectedVersion: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := h.DeliverOrder(ctx, order.DeliverOrder{ID: id, ExpectedVersion: 1})
	var e *order.Error
	if !errors.As(err, &e) || e.Code != order.ECONFLICT || e.Current == nil || e.Current.Version != 2 {
		t.Fatalf("stale deliver: %v", err)
	}
	if _, err := h.ShipOrder(ctx, order.ShipOrder{ID: order.NewID()}); order.ErrorCode(err) != order.ENOTFOUND {
		t.Fatalf("ship unknown order: %v", err)
	}
}

// testContention sends commands that expect no version at once: each is
// retried on the fresh order when it loses a save, so all of them apply.
func testContention(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	h := command.New(command.NewRepository(db))
	id := place(t, h)
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines := []order.Line{{SKU: "C-1", Name: "Thing", Quantity: i + 1, UnitPriceCents: 10}}
			_, errs[i] = h.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: id, Lines: lines})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("change lines: %v", err)
		}
	}
	o, _, err := command.Load(ctx, db, id, false)
	if err != nil || o.Version != 1+n {
		t.Fatalf("order after %d changes: %+v, %v", n, o, err)
	}
}

func testDelete(t *testing.T, db *bun.DB) {
	ctx := context.Background()
	h := command.New(command.NewRepository(db))
	id := place(t, h)
	ack, err := h.DeleteOrder(ctx, order.DeleteOrder{ID: id, ExpectedVersion: 1})
	if err != nil || ack.Version != 2 {
		t.Fatalf("delete: %+v, %v", ack, err)
	}
	if _, _, err := command.Load(ctx, db, id, false); order.ErrorCode(err) != order.ENOTFOUND {
		t.Fatalf("load deleted order: %v", err)
	}
	if _, err := h.DeleteOrder(ctx, order.DeleteOrder{ID: id}); order.ErrorCode(err) != order.ENOTFOUND {
		t.Fatalf("delete twice: %v", err)
	}
}
