package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage0"
)

func TestSQLiteIsOpenedForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	// A folder that does not exist yet is made.
	db, err := sqlstore.Open(ctx, "", filepath.Join(t.TempDir(), "sub", "write.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := db.NewRaw("PRAGMA "+pragma).Scan(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestMigrationsAreIdempotentAndReported(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := sqltest.Open(t, b, migrations.Write)
			ctx := context.Background()
			if err := sqlstore.Migrate(ctx, db, migrations.Write); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			m, err := sqlstore.Migrator(ctx, db, migrations.Write)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := m.MigrationsWithStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) == 0 || len(ms.Unapplied()) != 0 {
				t.Fatalf("status: %d migrations, %d pending", len(ms), len(ms.Unapplied()))
			}
		})
	}
}

func TestLinesGoWithTheirOrderAndKeepTheirChecks(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := sqltest.Open(t, b, migrations.Write)
			ctx := context.Background()
			svc := stage0.NewService(db)
			id := order.NewID()
			if _, _, err := svc.Create(ctx, order.PlaceOrder{ID: id, Customer: "A", Address: "B",
				Lines: []order.Line{{SKU: "X", Name: "Y", Quantity: 1, UnitPriceCents: 5}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.NewInsert().Model(&stage0.Line{OrderID: id, Position: 9, SKU: "Z", Name: "Z", Quantity: 0}).Exec(ctx); err == nil {
				t.Fatal("the database took a line with quantity 0")
			}
			if _, err := db.NewInsert().Model(&stage0.Line{OrderID: order.NewID(), Position: 0, SKU: "Z", Name: "Z", Quantity: 1}).Exec(ctx); err == nil {
				t.Fatal("the database took a line of no order")
			}
			if _, err := svc.Delete(ctx, id, 0); err != nil {
				t.Fatal(err)
			}
			n, err := db.NewSelect().Model((*stage0.Line)(nil)).Where("order_id = ?", id).Count(ctx)
			if err != nil || n != 0 {
				t.Fatalf("lines left after delete: %d %v", n, err)
			}
		})
	}
}

func TestConcurrentWritersAllLand(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := sqltest.Open(t, b, migrations.Write)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			svc := stage0.NewService(db)
			id := order.NewID()
			if _, _, err := svc.Create(ctx, order.PlaceOrder{ID: id, Customer: "Busy", Address: "B",
				Lines: []order.Line{{SKU: "X", Name: "Y", Quantity: 1, UnitPriceCents: 5}}}); err != nil {
				t.Fatal(err)
			}
			const writers, each = 8, 10
			var wg sync.WaitGroup
			errs := make(chan error, writers*each*2)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						_, _, err := svc.Create(ctx, order.PlaceOrder{ID: order.NewID(), Customer: fmt.Sprintf("W%d-%d", w, i), Address: "B",
							Lines: []order.Line{{SKU: "X", Name: "Y", Quantity: 1, UnitPriceCents: 5}}})
						errs <- err
						// Read-modify-write of one shared row: each must see the one before.
						_, err = svc.Update(ctx, id, func(o *order.Order, now time.Time) error {
							l := o.Lines
							l[0].Quantity = l[0].Quantity%order.MaxQuantity + 1
							_, err := o.ChangeLines(order.ChangeOrderLines{ID: id, Lines: l}, now)
							return err
						})
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			o, err := svc.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if o.Version != 1+writers*each {
				t.Fatalf("version %d after %d updates: an update was lost", o.Version, writers*each)
			}
			n, _ := db.NewSelect().Model((*stage0.Order)(nil)).Count(ctx)
			if n != 1+writers*each {
				t.Fatalf("%d orders, want %d", n, 1+writers*each)
			}
		})
	}
}

func TestInstancesStartingAtOnceMigrateOnce(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			url := b.URL(t)
			path := filepath.Join(t.TempDir(), "write.db")
			ctx := context.Background()
			const instances = 4
			errs := make(chan error, instances)
			var wg sync.WaitGroup
			for range instances {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, err := sqlstore.Open(ctx, url, path)
					if err != nil {
						errs <- err
						return
					}
					defer db.Close()
					errs <- sqlstore.Migrate(ctx, db, migrations.Write)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("an instance failed to migrate: %v", err)
				}
			}
		})
	}
}
