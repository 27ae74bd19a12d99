package stage3_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
)

// workshopStage runs a stage 3 with the workshop controls on.
func workshopStage(t *testing.T, on bool) (*stage3.Stage, context.Context) {
	t.Helper()
	return workshopStageMode(t, on, stage3.CommandBusSync)
}

// workshopStageMode is workshopStage with the command bus in mode.
func workshopStageMode(t *testing.T, on bool, mode string) (*stage3.Stage, context.Context) {
	t.Helper()
	b := sqltest.Backends()[0]
	nc, namespace := natstest.Connect(t)
	s, err := stage3.New(stage3.Config{Write: sqltest.Open(t, b, migrations.Write), Read: sqltest.Open(t, b, migrations.Read),
		NATS: nc, Namespace: namespace, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workshop: on, CommandBus: mode})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ctx
}

func placeOne(t *testing.T, ctx context.Context, s *stage3.Stage) order.ID {
	t.Helper()
	id := order.NewID()
	if _, err := s.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "1 Loop Rd",
		Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

// projected tells whether the read side has the order.
func projected(ctx context.Context, s *stage3.Stage, id order.ID) bool {
	_, err := s.OrderDetail(ctx, id)
	return err == nil
}

// projectedWithin waits up to d for the read side to have the order.
func projectedWithin(ctx context.Context, s *stage3.Stage, id order.ID, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if projected(ctx, s, id) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return projected(ctx, s, id)
}

func setControl(t *testing.T, ctx context.Context, s *stage3.Stage, key, value string) {
	t.Helper()
	if err := s.SetControl(ctx, key, value); err != nil {
		t.Fatalf("set %s to %s: %v", key, value, err)
	}
}

func controlValue(t *testing.T, ctx context.Context, s *stage3.Stage, key string) string {
	t.Helper()
	for _, c := range s.Controls(ctx) {
		if c.Key == key {
			return c.Value
		}
	}
	t.Fatalf("no control %s", key)
	return ""
}

// TestWorkshopControlsAreOffWithoutTheFlag: without Config.Workshop the
// stage lists no control and refuses to set one.
func TestWorkshopControlsAreOffWithoutTheFlag(t *testing.T) {
	s, ctx := workshopStage(t, false)
	if got := s.Controls(ctx); len(got) != 0 {
		t.Fatalf("controls without the flag: %+v", got)
	}
	if err := s.SetControl(ctx, "projector_delay_ms", "100"); order.ErrorCode(err) != order.ENOTFOUND {
		t.Fatalf("set without the flag: %v, want ENOTFOUND", err)
	}
}

// TestWorkshopControls: each control, set, changes what the stage does,
// and set back, the stage does as before; bad values and unknown controls
// are refused.
func TestWorkshopControls(t *testing.T) {
	s, ctx := workshopStage(t, true)
	for _, c := range s.Controls(ctx) {
		if c.On() {
			t.Errorf("control %s starts on (%s)", c.Key, c.Value)
		}
	}
	for _, bad := range []struct{ key, value, code string }{
		{"projector_delay_ms", "-1", order.EINVALID},
		{"projector_delay_ms", "10001", order.EINVALID},
		{"projector_delay_ms", "soon", order.EINVALID},
		{"projector", "stopped", order.EINVALID},
		{"relay", "", order.EINVALID},
		{"write_db", "gone", order.EINVALID},
		{"no_such_control", "1", order.ENOTFOUND},
	} {
		if err := s.SetControl(ctx, bad.key, bad.value); order.ErrorCode(err) != bad.code {
			t.Errorf("set %s to %q: %v, want %s", bad.key, bad.value, err, bad.code)
		}
	}

	t.Run("projector_delay_ms", func(t *testing.T) {
		setControl(t, ctx, s, "projector_delay_ms", "1500")
		if got := controlValue(t, ctx, s, "projector_delay_ms"); got != "1500" {
			t.Fatalf("value %s, want 1500", got)
		}
		start := time.Now()
		id := placeOne(t, ctx, s)
		if projectedWithin(ctx, s, id, 700*time.Millisecond) {
			t.Fatal("the order was projected before the delay was over")
		}
		if !projectedWithin(ctx, s, id, 10*time.Second) {
			t.Fatal("the order was not projected after the delay")
		}
		if took := time.Since(start); took < 1500*time.Millisecond {
			t.Fatalf("projected after %s, before the delay of 1.5s", took)
		}
		setControl(t, ctx, s, "projector_delay_ms", "0")
		id = placeOne(t, ctx, s)
		if !projectedWithin(ctx, s, id, 1200*time.Millisecond) {
			t.Fatal("with the delay back at 0 the order was not projected at once")
		}
	})

	t.Run("projector", func(t *testing.T) {
		setControl(t, ctx, s, "projector", "paused")
		ids := []order.ID{placeOne(t, ctx, s), placeOne(t, ctx, s), placeOne(t, ctx, s)}
		time.Sleep(1500 * time.Millisecond)
		for _, id := range ids {
			if projected(ctx, s, id) {
				t.Fatal("a paused projector applied an event")
			}
		}
		setControl(t, ctx, s, "projector", "running")
		for _, id := range ids {
			if !projectedWithin(ctx, s, id, 10*time.Second) {
				t.Fatal("the projector resumed did not apply the events that waited")
			}
		}
		if entries, err := s.ErrorLogEntries(ctx, ""); err != nil || len(entries) != 0 {
			t.Fatalf("the pause reached the error log: %+v, %v", entries, err)
		}
	})

	t.Run("write_db", func(t *testing.T) {
		before := placeOne(t, ctx, s)
		if !projectedWithin(ctx, s, before, 10*time.Second) {
			t.Fatal("not projected")
		}
		setControl(t, ctx, s, "write_db", "down")
		_, err := s.PlaceOrder(ctx, order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
			Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}})
		var u *httpapi.Unavailable
		if !errors.As(err, &u) {
			t.Fatalf("a command while the write database is down: %v, want Unavailable (503)", err)
		}
		if !projected(ctx, s, before) {
			t.Fatal("reads stopped while the write database is down")
		}
		setControl(t, ctx, s, "write_db", "up")
		if id := placeOne(t, ctx, s); !projectedWithin(ctx, s, id, 10*time.Second) {
			t.Fatal("with the write database up again, a command did not go through")
		}
	})

	t.Run("relay", func(t *testing.T) {
		setControl(t, ctx, s, "relay", "paused")
		time.Sleep(400 * time.Millisecond) // the round under way ends
		id := placeOne(t, ctx, s)
		if projectedWithin(ctx, s, id, 1500*time.Millisecond) {
			t.Fatal("a paused relay published an event")
		}
		setControl(t, ctx, s, "relay", "running")
		if !projectedWithin(ctx, s, id, 10*time.Second) {
			t.Fatal("the relay resumed did not publish the change log")
		}
	})
}

// TestWorkshopWriteDBDownQueuesAsyncCommands: in async mode a command sent
// while the write database is "down" is accepted and waits on the command
// bus, without reaching the error log, and is applied once it is up.
func TestWorkshopWriteDBDownQueuesAsyncCommands(t *testing.T) {
	s, ctx := workshopStageMode(t, true, stage3.CommandBusAsync)
	setControl(t, ctx, s, "write_db", "down")
	id := placeOne(t, ctx, s) // accepted: queued
	if projectedWithin(ctx, s, id, 2*time.Second) {
		t.Fatal("a command was applied while the write database was down")
	}
	if entries, err := s.ErrorLogEntries(ctx, ""); err != nil || len(entries) != 0 {
		t.Fatalf("the waiting command reached the error log: %+v, %v", entries, err)
	}
	setControl(t, ctx, s, "write_db", "up")
	if !projectedWithin(ctx, s, id, 15*time.Second) {
		t.Fatal("the queued command was not applied once the write database was up")
	}
	if entries, err := s.ErrorLogEntries(ctx, ""); err != nil || len(entries) != 0 {
		t.Fatalf("error log: %+v, %v", entries, err)
	}
}
