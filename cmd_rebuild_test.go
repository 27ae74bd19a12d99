package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
)

func TestRebuildCommand(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := app.Config{DataDir: t.TempDir(), WriteDB: b.URL(t), ReadDB: b.URL(t)}
			// Seed the database of record the way stage 3 writes it: each
			// change with its events in the change log. The read database
			// stays empty.
			write, err := app.OpenWrite(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := command.New(command.NewRepository(write, command.WithChangeLog(changelog.Hook())))
			var ids []order.ID
			for range 4 {
				id := order.NewID()
				if _, err := h.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "1 Main St",
					Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 250}}}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			for _, step := range []func() (order.Ack, error){
				func() (order.Ack, error) { return h.ShipOrder(ctx, order.ShipOrder{ID: ids[0]}) },
				func() (order.Ack, error) { return h.CancelOrder(ctx, order.CancelOrder{ID: ids[1]}) },
				func() (order.Ack, error) { return h.DeleteOrder(ctx, order.DeleteOrder{ID: ids[1]}) },
			} {
				if _, err := step(); err != nil {
					t.Fatal(err)
				}
			}
			write.Close()

			args := []string{"rebuild", "--data-dir", cfg.DataDir}
			if cfg.WriteDB != "" {
				args = append(args, "--write-db", cfg.WriteDB, "--read-db", cfg.ReadDB)
			}
			var stdout, stderr bytes.Buffer
			if err := run(ctx, args, &stdout, &stderr); err != nil {
				t.Fatalf("rebuild: %v\n%s", err, stderr.String())
			}
			out := stdout.String()
			// Not a terminal: plain lines, one per phase at least, then the
			// summary with the rate.
			if strings.Contains(out, "\r") {
				t.Fatalf("progress redrawn in place on a non-terminal:\n%q", out)
			}
			for _, want := range []string{"Replaying events", "Syncing orders", "swapping"} {
				if !strings.Contains(out, want) {
					t.Fatalf("output lacks %q:\n%s", want, out)
				}
			}
			if !regexp.MustCompile(`(?m)^Rebuilt 7 events, 3 orders in \S+ \(\d+ events/s\)$`).MatchString(out) {
				t.Fatalf("no summary in:\n%s", out)
			}

			read, err := app.OpenRead(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer read.Close()
			rm := projection.NewReadModel(read)
			d, err := rm.OrderDetail(ctx, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != order.Shipped || len(d.History) != 2 || d.History[1].Type != "OrderShipped" {
				t.Fatalf("order rebuilt as %s with history %+v", d.Status, d.History)
			}
			if v, found, err := rm.Version(ctx, ids[1]); err != nil || found || v != 3 {
				t.Fatalf("deleted order: version %d, found %v, %v; want a tombstone at v3", v, found, err)
			}
		})
	}
}

func TestRebuildCommandRefusesArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"rebuild", "--data-dir", t.TempDir(), "now"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no arguments") || !strings.Contains(stderr.String(), "usage: staircase rebuild") {
		t.Fatalf("rebuild now: %v\n%s", err, stderr.String())
	}
}

func TestRebuildCommandParksARowItCannotReadAndFinishes(t *testing.T) {
	ctx := context.Background()
	cfg := app.Config{DataDir: t.TempDir()}
	write, err := app.OpenWrite(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := command.New(command.NewRepository(write, command.WithChangeLog(changelog.Hook())))
	id := order.NewID()
	if _, err := h.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "1 Main St",
		Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 250}}}); err != nil {
		t.Fatal(err)
	}
	// A newer instance's row, in a schema this version does not know.
	if _, err := write.NewRaw("INSERT INTO change_log (event_id, order_id, order_version, type, schema_version, payload, occurred_at)"+
		" VALUES (?, ?, 2, 'OrderShipped', 99, '{}', ?)", order.NewID(), id, time.Now()).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	write.Close()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"rebuild", "--data-dir", cfg.DataDir}, &stdout, &stderr); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "; 1 parked in the error log") || !strings.Contains(out, "staircase dlq list") {
		t.Fatalf("output does not report the parked event:\n%s", out)
	}
}
