package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// TestSeedWritesOrdersAsStage3Would: seeded orders are consistent with
// their change log (versions 1…v, one event each), cover every status, and
// stage 3 brings its read side level with them on entering.
func TestSeedWritesOrdersAsStage3Would(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := app.Config{DataDir: t.TempDir(), WriteDB: b.URL(t), ReadDB: b.URL(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			args := []string{"seed", "--orders", "1500", "--seed", "3", "--data-dir", cfg.DataDir}
			if cfg.WriteDB != "" {
				args = append(args, "--write-db", cfg.WriteDB)
			}
			var out, errOut bytes.Buffer
			if err := run(ctx, args, &out, &errOut); err != nil {
				t.Fatalf("seed: %v\n%s", err, errOut.String())
			}
			if !strings.Contains(out.String(), "1500 orders") {
				t.Fatalf("seed said: %s", out.String())
			}
			write, err := app.OpenWrite(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer write.Close()
			var statuses []struct {
				Status string `bun:"status"`
				N      int    `bun:"n"`
			}
			if err := write.NewRaw("SELECT status, COUNT(*) AS n FROM orders GROUP BY status").Scan(ctx, &statuses); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, s := range statuses {
				total += s.N
			}
			if len(statuses) != 4 || total != 1500 {
				t.Fatalf("orders by status: %+v", statuses)
			}
			var bad int
			if err := write.NewRaw(`SELECT COUNT(*) FROM orders o WHERE o.version <> (SELECT COUNT(*) FROM change_log c WHERE c.order_id = o.id)
				OR o.version <> (SELECT MAX(c.order_version) FROM change_log c WHERE c.order_id = o.id)`).Scan(ctx, &bad); err != nil {
				t.Fatal(err)
			}
			if bad != 0 {
				t.Fatalf("%d orders whose change log is not versions 1…v", bad)
			}

			cfg.Stage = 3
			a, err := app.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			deadline := time.Now().Add(60 * time.Second)
			for {
				d, err := a.Stage3.Dashboard(ctx)
				if err == nil && d.Orders == 1500 && d.Source == order.ReadModel {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("read side after entering stage 3: %+v, %v", d, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestSeedRefusesADataDirInUse: seeding SQLite under a running serve
// would race its writes; it is refused with the reason.
func TestSeedRefusesADataDirInUse(t *testing.T) {
	dir := t.TempDir()
	unlock, err := sqlstore.LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"seed", "--orders", "10", "--data-dir", dir}, &out, &errOut)
	if !errors.Is(err, sqlstore.ErrDataDirInUse) {
		t.Fatalf("seed on a locked data dir: %v", err)
	}
}
