package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/projection"
)

func TestRebuildCommandRebuildsTheDashboardAlone(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := app.Config{DataDir: t.TempDir(), WriteDB: b.URL(t), ReadDB: b.URL(t)}
			write, err := app.OpenWrite(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := command.New(command.NewRepository(write, command.WithChangeLog(changelog.Hook())))
			var ids []order.ID
			for i := range 4 {
				id := order.NewID()
				if _, err := h.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: []string{"Ada", "Grace"}[i%2], Address: "1 Main St",
					Lines: []order.Line{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 250}}}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			for _, step := range []func() (order.Ack, error){
				func() (order.Ack, error) { return h.ShipOrder(ctx, order.ShipOrder{ID: ids[0]}) },
				func() (order.Ack, error) { return h.CancelOrder(ctx, order.CancelOrder{ID: ids[1]}) },
				func() (order.Ack, error) { return h.DeleteOrder(ctx, order.DeleteOrder{ID: ids[2]}) },
			} {
				if _, err := step(); err != nil {
					t.Fatal(err)
				}
			}
			write.Close()

			args := []string{"rebuild", "--projection", "dashboard", "--data-dir", cfg.DataDir}
			if cfg.WriteDB != "" {
				args = append(args, "--write-db", cfg.WriteDB, "--read-db", cfg.ReadDB)
			}
			var stdout, stderr bytes.Buffer
			if err := run(ctx, args, &stdout, &stderr); err != nil {
				t.Fatalf("rebuild: %v\n%s", err, stderr.String())
			}
			if out := stdout.String(); !regexp.MustCompile(`(?m)^Rebuilt the dashboard from 7 events in \S+ \(\d+ events/s\)$`).MatchString(out) {
				t.Fatalf("no summary in:\n%s", out)
			}
			read, err := app.OpenRead(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer read.Close()
			rm := projection.NewReadModel(read)
			d, err := rm.Dashboard(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[order.Status]int{order.Placed: 1, order.Shipped: 1, order.Cancelled: 1}
			if d.Orders != 3 || len(d.Counts) != len(want) || d.Revenue["USD"] != 1000 || len(d.TopCustomers) != 2 ||
				d.TopCustomers[0].Customer != "Ada" || d.TopCustomers[0].Orders != 1 || d.TopCustomers[1].Customer != "Grace" {
				t.Fatalf("dashboard rebuilt as %+v", d)
			}
			for st, n := range want {
				if d.Counts[st] != n {
					t.Fatalf("dashboard rebuilt as %+v", d)
				}
			}
			// The order rows are not the dashboard's: left as they were.
			if p, err := rm.OrderSummaries(ctx, order.SummaryQuery{}); err != nil || len(p.Orders) != 0 {
				t.Fatalf("the order rows were rebuilt too: %d, %v", len(p.Orders), err)
			}
		})
	}
}

func TestRebuildCommandRefusesAnUnknownProjection(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"rebuild", "--data-dir", t.TempDir(), "--projection", "graphs"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "all or dashboard") || !strings.Contains(stderr.String(), "usage: staircase rebuild") {
		t.Fatalf("rebuild --projection graphs: %v\n%s", err, stderr.String())
	}
}
