package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

func count(t *testing.T, db *bun.DB, table string) int64 {
	t.Helper()
	n, err := db.NewSelect().TableExpr(table).Count(context.Background())
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestResetEmptiesTheDataAndTheAppStartsAfresh: after seeding and a run
// of stage 3 (read side and bus filled), reset leaves no order on either
// side nor on the bus, and the app starts on the emptied data and takes
// new orders in stage 3.
func TestResetEmptiesTheDataAndTheAppStartsAfresh(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := app.Config{DataDir: t.TempDir(), WriteDB: b.URL(t), ReadDB: b.URL(t), Stage: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			dbFlags := []string{"--data-dir", cfg.DataDir}
			if cfg.WriteDB != "" {
				dbFlags = append(dbFlags, "--write-db", cfg.WriteDB, "--read-db", cfg.ReadDB)
			}
			var out, errOut bytes.Buffer
			if err := run(ctx, append([]string{"seed", "--orders", "300"}, dbFlags...), &out, &errOut); err != nil {
				t.Fatalf("seed: %v\n%s", err, errOut.String())
			}
			// Stage 3 brings its read side level, through the bus.
			a, err := app.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitOrders(t, a, 300)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}

			// Without --yes nothing changes.
			out.Reset()
			err = run(ctx, append([]string{"reset"}, dbFlags...), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), "--yes") {
				t.Fatalf("reset without --yes: %v", err)
			}
			write, err := app.OpenWrite(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if n := count(t, write, "orders"); n != 300 {
				t.Fatalf("reset without --yes left %d orders of 300", n)
			}
			write.Close()

			out.Reset()
			if err := run(ctx, append([]string{"reset", "--yes"}, dbFlags...), &out, &errOut); err != nil {
				t.Fatalf("reset: %v\n%s", err, errOut.String())
			}
			if !strings.Contains(out.String(), "every order deleted") {
				t.Errorf("reset said: %s", out.String())
			}
			write, read := openSides(t, cfg)
			for _, table := range []string{"orders", "order_lines", "change_log", "processed_commands"} {
				if n := count(t, write, table); n != 0 {
					t.Errorf("write database: %d rows left in %s", n, table)
				}
			}
			for _, table := range []string{"order_views", "order_history", "error_log"} {
				if n := count(t, read, table); n != 0 {
					t.Errorf("read database: %d rows left in %s", n, table)
				}
			}
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "nats")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the embedded bus's store is still there: %v", err)
			}

			// The app starts on the emptied data, and stage 3 goes on.
			a, err = app.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			if d, err := a.Stage3.Dashboard(ctx); err != nil || d.Orders != 0 {
				t.Fatalf("after the reset the dashboard counts %d orders (%v)", d.Orders, err)
			}
			if _, err := a.Stage3.PlaceOrder(ctx, order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Road",
				Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 1250}}}); err != nil {
				t.Fatal(err)
			}
			waitOrders(t, a, 1)
		})
	}
}

// waitOrders waits until stage 3's read side counts n orders.
// openSides opens the write and read databases of cfg, closed when the
// test ends.
func openSides(t *testing.T, cfg app.Config) (write, read *bun.DB) {
	t.Helper()
	ctx := context.Background()
	write, err := app.OpenWrite(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { write.Close() })
	read, err = app.OpenRead(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { read.Close() })
	return write, read
}

func waitOrders(t *testing.T, a *app.App, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := a.Stage3.Dashboard(context.Background())
		if err == nil && d.Orders == n && d.Source == order.ReadModel {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read side: %d orders, want %d (%v)", d.Orders, n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the read side, which has no push to wait on
	}
}

// TestResetRefusesADataDirInUse: like serve, reset holds the data dir.
func TestResetRefusesADataDirInUse(t *testing.T) {
	dir := t.TempDir()
	unlock, err := sqlstore.LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"reset", "--yes", "--data-dir", dir}, &out, &errOut)
	if !errors.Is(err, sqlstore.ErrDataDirInUse) {
		t.Fatalf("reset on a locked data dir: %v", err)
	}
}
