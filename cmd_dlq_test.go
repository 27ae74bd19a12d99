package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/order/ordertest"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/projection"
)

func TestDLQCommandListsShowsAndReplays(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := app.Config{DataDir: t.TempDir(), ReadDB: b.URL(t)}
			read, err := app.OpenRead(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer read.Close()
			events := ordertest.Life(t, "Ada")
			envelope := func(e order.Event) []byte {
				m, err := stage3.EventMessage(e)
				if err != nil {
					t.Fatal(err)
				}
				return m.Payload
			}
			// v2 failed its retries on the gap before it; v3 came after.
			if err := projection.Park(ctx, read, events[1], envelope(events[1]), projection.ErrGap, 3); err != nil {
				t.Fatal(err)
			}
			if err := projection.Hold(ctx, read, events[2], envelope(events[2])); err != nil {
				t.Fatal(err)
			}

			dlq := func(args ...string) (string, error) {
				t.Helper()
				full := append([]string{"dlq", "--data-dir", cfg.DataDir}, args...)
				if cfg.ReadDB != "" {
					full = append(full, "--read-db", cfg.ReadDB)
				}
				var stdout, stderr bytes.Buffer
				err := run(ctx, full, &stdout, &stderr)
				return stdout.String() + stderr.String(), err
			}
			mustContain := func(out string, err error, want ...string) {
				t.Helper()
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				for _, w := range want {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s", w, out)
					}
				}
			}
			id := events[0].OrderID.String()

			out, err := dlq("list")
			mustContain(out, err, "ID", "STATUS", "parked", "held", id, "v2", "OrderLinesChanged", "v3", "OrderShipped")
			out, err = dlq("list", "--status", "held")
			mustContain(out, err, "OrderShipped")
			if strings.Contains(out, "OrderLinesChanged") {
				t.Errorf("--status held lists a parked entry:\n%s", out)
			}
			out, err = dlq("show", "1")
			mustContain(out, err, "Status:", "parked", "Attempts:", "3", "Envelope:", "\n  \"order_version\": 2")

			out, err = dlq("replay", "1", "--dry-run")
			mustContain(out, err, "would still fail: gap at v1", "would stay held behind v2 OrderLinesChanged", "dry run, nothing changed")
			if _, err = dlq("replay", "1"); err == nil {
				t.Error("a replay that still fails exits with success")
			}

			for _, bad := range [][]string{{"show", "99"}, {"show", "x"}, {"show"}, {"replay"}, {"replay", "1", "--all"},
				{"list", "--status", "lost"}, {"purge"}, {}} {
				if out, err := dlq(bad...); err == nil {
					t.Errorf("dlq %q succeeded:\n%s", bad, out)
				}
			}

			// v1 arrives at last, held behind v2.
			if err := projection.Hold(ctx, read, events[0], envelope(events[0])); err != nil {
				t.Fatal(err)
			}
			defer func(in func() bool) { dlqInteractive = in }(dlqInteractive)
			defer func(r io.Reader) { dlqStdin = r }(dlqStdin)

			dlqInteractive = func() bool { return false }
			if out, err := dlq("replay", "--all"); err == nil || !strings.Contains(err.Error(), "--yes") {
				t.Errorf("replay --all without a terminal or --yes: %v\n%s", err, out)
			}
			dlqInteractive = func() bool { return true }
			dlqStdin = strings.NewReader("n\n")
			out, err = dlq("replay", "--all")
			mustContain(out, err, "Replay 3 entries? [y/N]", "Nothing replayed.")
			if v, _, _ := projection.NewReadModel(read).Version(ctx, events[0].OrderID); v != 0 {
				t.Fatalf("declined, yet the order is at v%d", v)
			}
			dlqStdin = strings.NewReader("y\n")
			out, err = dlq("replay", "--all")
			mustContain(out, err, "applied v1 OrderPlaced", "applied v2 OrderLinesChanged", "applied v3 OrderShipped", "3 applied")
			if v, _, err := projection.NewReadModel(read).Version(ctx, events[0].OrderID); err != nil || v != 3 {
				t.Fatalf("after the replay the order is at v%d (%v), want v3", v, err)
			}
			out, err = dlq("replay", "--all", "--yes")
			mustContain(out, err, "nothing to replay")
			out, err = dlq("list", "--status", "replayed")
			mustContain(out, err, "OrderPlaced", "OrderLinesChanged", "OrderShipped")
		})
	}
}

func TestDLQCommandDiscardsAndListsCommands(t *testing.T) {
	ctx := context.Background()
	cfg := app.Config{DataDir: t.TempDir()}
	read, err := app.OpenRead(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	events := ordertest.Life(t, "Ada")
	m, err := stage3.EventMessage(events[0])
	if err != nil {
		t.Fatal(err)
	}
	commandID := order.NewID()
	err = errors.Join(
		projection.Park(ctx, read, events[0], m.Payload, errors.New("unreadable"), 1),
		projection.ParkCommand(ctx, read, commandID, events[0].OrderID, "ShipOrder", []byte(`{"type":`), "cannot be decoded", 1))
	read.Close()
	if err != nil {
		t.Fatal(err)
	}
	dlq := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(ctx, append([]string{"dlq", "--data-dir", cfg.DataDir}, args...), &stdout, &stderr); err != nil {
			t.Fatalf("dlq %v: %v\n%s%s", args, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if out := dlq("list"); !strings.Contains(out, "ShipOrder command") {
		t.Fatalf("list:\n%s", out)
	}
	if out := dlq("show", "2"); !strings.Contains(out, "Command:") || !strings.Contains(out, commandID.String()) {
		t.Fatalf("show:\n%s", out)
	}
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"dlq", "--data-dir", cfg.DataDir, "replay", "2"}, &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), "--nats-url") {
		t.Fatalf("replay of a command without a bus: %v", err)
	}
	for _, id := range []string{"1", "2"} {
		if out := dlq("discard", id); !strings.Contains(out, "Discarded entry "+id) {
			t.Fatalf("discard %s:\n%s", id, out)
		}
	}
	if out := dlq("list", "--status", "discarded"); strings.Count(out, "discarded") != 2 {
		t.Fatalf("discarded entries:\n%s", out)
	}
}
