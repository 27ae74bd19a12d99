package stage3_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/changelog"
)

// controlRig is a stage 3 with the workshop controls on, on one backend,
// with its databases at hand.
type controlRig struct {
	s           *stage3.Stage
	ctx         context.Context
	write, read *bun.DB
}

// eachBackend runs fn on a workshop stage 3 over every database backend
// under test (SQLite, and PostgreSQL when configured), with the command
// bus in mode and the projector retrying each event retries times.
func eachBackend(t *testing.T, mode string, retries int, fn func(t *testing.T, r controlRig)) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			nc, namespace := natstest.Connect(t)
			r := controlRig{write: sqltest.Open(t, b, migrations.Write), read: sqltest.Open(t, b, migrations.Read)}
			s, err := stage3.New(stage3.Config{Write: r.write, Read: r.read, NATS: nc, Namespace: namespace, Retries: retries, Metrics: metrics.NewRegistry(),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workshop: true, CommandBus: mode})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t.Cleanup(cancel)
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			r.s, r.ctx = s, ctx
			fn(t, r)
		})
	}
}

// waitVersion waits up to d for the read side to have order id at version.
func waitVersion(t *testing.T, ctx context.Context, s *stage3.Stage, id order.ID, version int, d time.Duration) order.Detail {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		det, err := s.OrderDetail(ctx, id)
		if err == nil && det.Version >= version {
			return det
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s not at version %d on the read side within %s: %+v, %v", id, version, d, det.Version, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// figure is a live figure's value.
func figure(t *testing.T, ctx context.Context, s *stage3.Stage, key string) float64 {
	t.Helper()
	for _, g := range s.Figures(ctx).Groups {
		for _, f := range g.Figures {
			if f.Key == key {
				return f.Value
			}
		}
	}
	t.Fatalf("no figure %s", key)
	return 0
}

func control(t *testing.T, ctx context.Context, s *stage3.Stage, key string) stageview.Control {
	t.Helper()
	for _, c := range s.Controls(ctx) {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("no control %s", key)
	return stageview.Control{}
}

func newPlace() order.PlaceOrder {
	return order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
		Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 2, UnitPriceCents: 150}}}
}

// commandStatus posts a place-order through the stage's own modify API and
// returns the HTTP status.
func commandStatus(t *testing.T, app *fiber.App) int {
	t.Helper()
	cmd := newPlace()
	body, _ := json.Marshal(map[string]any{"id": cmd.ID, "customer": cmd.Customer, "address": cmd.Address,
		"lines": []map[string]any{{"sku": "A-1", "name": "Widget", "quantity": 1, "unit_price_cents": 100}}})
	req := httptest.NewRequest(http.MethodPost, "/api/commands/place-order", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func stageApp(s *stage3.Stage) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: httpapi.WriteProblem})
	s.Routes(app)
	return app
}

// TestWorkshopCommandBusSwitch: the command_bus control switches the
// command side live — the modify API mounted before the switch answers
// 202 in async mode and 201 in sync mode right after — commands queued
// before a switch to sync are still applied, the diagram's idle path
// follows, and readiness weighs the write database by the mode now.
func TestWorkshopCommandBusSwitch(t *testing.T) {
	eachBackend(t, stage3.CommandBusSync, 0, func(t *testing.T, r controlRig) {
		s, ctx := r.s, r.ctx
		app := stageApp(s)
		c := control(t, ctx, s, "command_bus")
		if c.Value != "sync" || c.Default != "sync" || c.On() {
			t.Fatalf("command_bus starts %+v, want sync (the --command-bus value)", c)
		}
		if len(c.Marks) != 1 || c.Marks[0].Target != stage3.FlowCommandBus || c.Marks[0].State != stageview.MarkIdle {
			t.Fatalf("in sync mode the diagram marks %+v, want the command bus's path idle", c.Marks)
		}
		if got := commandStatus(t, app); got != http.StatusCreated {
			t.Fatalf("place-order in sync mode: %d, want 201", got)
		}
		if err := s.SetControl(ctx, "command_bus", "queued"); order.ErrorCode(err) != order.EINVALID {
			t.Fatalf("command_bus=queued: %v, want EINVALID", err)
		}

		setControl(t, ctx, s, "command_bus", "async")
		if c := control(t, ctx, s, "command_bus"); c.Value != "async" || !c.On() || c.Marks[0].Target != stage3.FlowCommandSync {
			t.Fatalf("after the switch: %+v", c)
		}
		if got := commandStatus(t, app); got != http.StatusAccepted {
			t.Fatalf("place-order right after the switch to async: %d, want 202", got)
		}
		if essential(ctx, s, "write_db") {
			t.Fatal("in async mode the write database is still essential to readiness")
		}

		// Commands queued while the write database is down, then a switch
		// back to sync: they are applied once it is up.
		setControl(t, ctx, s, "write_db", "down")
		var queued []order.ID
		for range 3 {
			cmd := newPlace()
			ack, err := s.PlaceOrder(ctx, cmd)
			if err != nil || !ack.Accepted {
				t.Fatalf("async place-order while the write database is down: %+v, %v, want accepted", ack, err)
			}
			queued = append(queued, cmd.ID)
		}
		setControl(t, ctx, s, "command_bus", "sync")
		if got := commandStatus(t, app); got != http.StatusServiceUnavailable {
			t.Fatalf("sync place-order with the write database down: %d, want 503", got)
		}
		if projectedWithin(ctx, s, queued[0], time.Second) {
			t.Fatal("a queued command was applied while the write database was down")
		}
		if !essential(ctx, s, "write_db") {
			t.Fatal("back in sync mode the write database is not essential to readiness")
		}
		setControl(t, ctx, s, "write_db", "up")
		for _, id := range queued {
			waitVersion(t, ctx, s, id, 1, 20*time.Second)
		}
		cmd := newPlace()
		if ack, err := s.PlaceOrder(ctx, cmd); err != nil || ack.Accepted || ack.Version != 1 {
			t.Fatalf("sync place-order after the drain: %+v, %v", ack, err)
		}
		if got := commandStatus(t, app); got != http.StatusCreated {
			t.Fatalf("place-order back in sync mode: %d, want 201", got)
		}
		if entries, err := s.ErrorLogEntries(ctx, ""); err != nil || len(entries) != 0 {
			t.Fatalf("error log: %+v, %v", entries, err)
		}
	})
}

// TestWorkshopCommandBusStartsAsync: with --command-bus=async the control
// starts (and resets to) async.
func TestWorkshopCommandBusStartsAsync(t *testing.T) {
	s, ctx := workshopStageMode(t, true, stage3.CommandBusAsync)
	if c := control(t, ctx, s, "command_bus"); c.Value != "async" || c.Default != "async" || c.On() {
		t.Fatalf("command_bus with --command-bus=async: %+v", c)
	}
	setControl(t, ctx, s, "command_bus", "sync")
	cmd := newPlace()
	if ack, err := s.PlaceOrder(ctx, cmd); err != nil || ack.Accepted {
		t.Fatalf("after the switch to sync: %+v, %v", ack, err)
	}
}

func essential(ctx context.Context, s *stage3.Stage, key string) bool {
	for _, c := range s.Readiness(ctx).Components {
		if c.Key == key {
			return c.Essential
		}
	}
	return false
}

// TestWorkshopDuplicateDeliveries: with every event delivered twice, the
// projector ignores the copies and the read model is what it would be
// without them.
func TestWorkshopDuplicateDeliveries(t *testing.T) {
	eachBackend(t, stage3.CommandBusSync, 0, func(t *testing.T, r controlRig) {
		s, ctx := r.s, r.ctx
		for _, bad := range []string{"-1", "101", "half"} {
			if err := s.SetControl(ctx, "duplicate_deliveries_pct", bad); order.ErrorCode(err) != order.EINVALID {
				t.Fatalf("duplicate_deliveries_pct=%s: %v", bad, err)
			}
		}
		setControl(t, ctx, s, "duplicate_deliveries_pct", "100")
		if c := control(t, ctx, s, "duplicate_deliveries_pct"); !c.On() || len(c.Marks) == 0 {
			t.Fatalf("control: %+v", c)
		}
		dupBefore := figure(t, ctx, s, stage3.FigureEventsDuplicate)
		cmd := newPlace()
		if _, err := s.PlaceOrder(ctx, cmd); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ShipOrder(ctx, order.ShipOrder{ID: cmd.ID}); err != nil {
			t.Fatal(err)
		}
		got := waitVersion(t, ctx, s, cmd.ID, 2, 15*time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for figure(t, ctx, s, stage3.FigureEventsDuplicate)-dupBefore < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("duplicates ignored: %v, want 2 more", figure(t, ctx, s, stage3.FigureEventsDuplicate)-dupBefore)
			}
			time.Sleep(25 * time.Millisecond)
		}
		if sent := figure(t, ctx, s, "workshop-sent-twice"); sent < 2 {
			t.Fatalf("sent twice: %v", sent)
		}
		if got.Status != order.Shipped || len(got.History) != 2 || got.TotalCents != 300 {
			t.Fatalf("read model after duplicates: %+v", got)
		}
		assertMatchesWrite(t, ctx, r, cmd.ID)

		setControl(t, ctx, s, "duplicate_deliveries_pct", "0")
		sent := figure(t, ctx, s, "workshop-sent-twice")
		id := placeOne(t, ctx, s)
		waitVersion(t, ctx, s, id, 1, 10*time.Second)
		time.Sleep(200 * time.Millisecond)
		if now := figure(t, ctx, s, "workshop-sent-twice"); now != sent {
			t.Fatalf("with the control at 0, %v more events were sent twice", now-sent)
		}
	})
}

// assertMatchesWrite checks the read side's order against the database of
// record's.
func assertMatchesWrite(t *testing.T, ctx context.Context, r controlRig, id order.ID) {
	t.Helper()
	var row struct {
		Status  string
		Version int
	}
	if err := r.write.NewSelect().Table("orders").Column("status", "version").Where("id = ?", id).Scan(ctx, &row.Status, &row.Version); err != nil {
		t.Fatal(err)
	}
	d, err := r.s.OrderDetail(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Status) != row.Status || d.Version != row.Version {
		t.Fatalf("read side %s v%d, database of record %s v%d", d.Status, d.Version, row.Status, row.Version)
	}
}

// TestWorkshopReorderDeliveries: with neighbouring deliveries swapped, an
// order's later event reaches the projector before the earlier one and
// waits for it (a gap retry); the read model ends up the same, nothing is
// parked and nothing stays on the bus.
func TestWorkshopReorderDeliveries(t *testing.T) {
	eachBackend(t, stage3.CommandBusSync, 0, func(t *testing.T, r controlRig) {
		s, ctx := r.s, r.ctx
		if err := s.SetControl(ctx, "reorder_deliveries", "yes"); order.ErrorCode(err) != order.EINVALID {
			t.Fatalf("reorder_deliveries=yes: %v", err)
		}
		setControl(t, ctx, s, "reorder_deliveries", "true")
		gaps := figure(t, ctx, s, stage3.FigureGapRetries)
		// Both events on the bus at once: the relay paused while they are
		// written.
		setControl(t, ctx, s, "relay", "paused")
		time.Sleep(400 * time.Millisecond)
		var ids []order.ID
		for range 2 {
			cmd := newPlace()
			if _, err := s.PlaceOrder(ctx, cmd); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ShipOrder(ctx, order.ShipOrder{ID: cmd.ID}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeliverOrder(ctx, order.DeliverOrder{ID: cmd.ID}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, cmd.ID)
		}
		setControl(t, ctx, s, "relay", "running")
		for _, id := range ids {
			got := waitVersion(t, ctx, s, id, 3, 30*time.Second)
			if got.Status != order.Delivered || len(got.History) != 3 {
				t.Fatalf("read model after reordering: %+v", got)
			}
			assertMatchesWrite(t, ctx, r, id)
		}
		if swapped := figure(t, ctx, s, "workshop-swapped"); swapped < 1 {
			t.Fatalf("swapped %v, want at least 1", swapped)
		}
		if waited := figure(t, ctx, s, stage3.FigureGapRetries) - gaps; waited < 1 {
			t.Fatalf("gap retries %v, want an event that waited for its turn", waited)
		}
		if entries, err := s.ErrorLogEntries(ctx, ""); err != nil || len(entries) != 0 {
			t.Fatalf("error log: %+v, %v", entries, err)
		}
		// The originals held back come again from the bus and are
		// acknowledged: the backlog drains.
		deadline := time.Now().Add(15 * time.Second)
		for figure(t, ctx, s, stage3.FigureEventsBacklog) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("events backlog stays at %v", figure(t, ctx, s, stage3.FigureEventsBacklog))
			}
			time.Sleep(50 * time.Millisecond)
		}
		setControl(t, ctx, s, "reorder_deliveries", "false")
		swapped := figure(t, ctx, s, "workshop-swapped")
		cmd := newPlace()
		if _, err := s.PlaceOrder(ctx, cmd); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ShipOrder(ctx, order.ShipOrder{ID: cmd.ID}); err != nil {
			t.Fatal(err)
		}
		waitVersion(t, ctx, s, cmd.ID, 2, 10*time.Second)
		if now := figure(t, ctx, s, "workshop-swapped"); now != swapped {
			t.Fatalf("with the control off, %v more swaps", now-swapped)
		}
	})
}

// TestWorkshopPoisonOrder: the poisoned order's next event is parked after
// its retries and its later events held, other orders go on; a replay
// fails while the order is poisoned and applies everything once the
// control is cleared.
func TestWorkshopPoisonOrder(t *testing.T) {
	eachBackend(t, stage3.CommandBusSync, 2, func(t *testing.T, r controlRig) {
		s, ctx := r.s, r.ctx
		for _, bad := range []string{"order-7", "12345", "00000000-0000-0000-0000-000000000000"} {
			if err := s.SetControl(ctx, "poison_order", bad); order.ErrorCode(err) != order.EINVALID {
				t.Fatalf("poison_order=%q: %v, want EINVALID", bad, err)
			}
		}
		if c := control(t, ctx, s, "poison_order"); c.On() || c.Kind != stageview.ControlText {
			t.Fatalf("poison_order after bad values: %+v", c)
		}
		victim := placeOne(t, ctx, s)
		waitVersion(t, ctx, s, victim, 1, 10*time.Second)
		setControl(t, ctx, s, "poison_order", " "+strings.ToUpper(victim.String())+" ")
		if c := control(t, ctx, s, "poison_order"); c.Value != victim.String() || !c.On() {
			t.Fatalf("poison_order: %+v", c)
		}
		if _, err := s.ShipOrder(ctx, order.ShipOrder{ID: victim}); err != nil {
			t.Fatal(err)
		}
		parked := waitEntries(t, ctx, s, stageview.EntryParked, 1)
		if parked[0].OrderID != victim.String() || parked[0].OrderVersion != 2 || !strings.Contains(parked[0].Error, "poison") {
			t.Fatalf("parked: %+v", parked[0])
		}
		if _, err := s.DeliverOrder(ctx, order.DeliverOrder{ID: victim}); err != nil {
			t.Fatal(err)
		}
		held := waitEntries(t, ctx, s, stageview.EntryHeld, 1)
		if held[0].OrderVersion != 3 {
			t.Fatalf("held: %+v", held[0])
		}
		other := placeOne(t, ctx, s)
		waitVersion(t, ctx, s, other, 1, 10*time.Second)
		if d, _ := s.OrderDetail(ctx, victim); d.Version != 1 {
			t.Fatalf("the poisoned order moved on the read side: v%d", d.Version)
		}

		report, err := s.ReplayErrorLog(ctx, parked[0].ID, false)
		if err != nil || report.Failed != 1 || report.Applied != 0 {
			t.Fatalf("replay while poisoned: %+v, %v, want it to fail", report, err)
		}
		setControl(t, ctx, s, "poison_order", "")
		if c := control(t, ctx, s, "poison_order"); c.On() {
			t.Fatalf("cleared: %+v", c)
		}
		report, err = s.ReplayErrorLog(ctx, parked[0].ID, false)
		if err != nil || report.Applied != 2 || report.Failed != 0 {
			t.Fatalf("replay after clearing: %+v, %v", report, err)
		}
		if d := waitVersion(t, ctx, s, victim, 3, 5*time.Second); d.Status != order.Delivered {
			t.Fatalf("after the replay: %+v", d)
		}
		assertMatchesWrite(t, ctx, r, victim)
		if n := figure(t, ctx, s, "workshop-poisoned"); n < 1 {
			t.Fatalf("poisoned attempts %v", n)
		}
	})
}

func waitEntries(t *testing.T, ctx context.Context, s *stage3.Stage, status string, n int) []stageview.ErrorEntry {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, err := s.ErrorLogEntries(ctx, status)
		if err == nil && len(entries) >= n {
			return entries
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s entries within 30s, want %d (%v)", len(entries), status, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWorkshopLegacyEvents: with legacy_events on, OrderPlaced is recorded
// as schema 1 without a currency; it is projected through the upcaster in
// the default currency, and the order's history says so.
func TestWorkshopLegacyEvents(t *testing.T) {
	eachBackend(t, stage3.CommandBusSync, 0, func(t *testing.T, r controlRig) {
		s, ctx := r.s, r.ctx
		if err := s.SetControl(ctx, "legacy_events", "on"); order.ErrorCode(err) != order.EINVALID {
			t.Fatalf("legacy_events=on: %v", err)
		}
		setControl(t, ctx, s, "legacy_events", "true")
		legacy := newPlace()
		if _, err := s.PlaceOrder(ctx, legacy); err != nil {
			t.Fatal(err)
		}
		euro := newPlace()
		euro.Currency = "EUR"
		if _, err := s.PlaceOrder(ctx, euro); err != nil {
			t.Fatal(err)
		}
		stored := storedSchema(t, ctx, r.write, legacy.ID)
		if stored.schema != 1 || strings.Contains(stored.payload, "currency") {
			t.Fatalf("legacy OrderPlaced stored as schema %d: %s", stored.schema, stored.payload)
		}
		if st := storedSchema(t, ctx, r.write, euro.ID); st.schema != 2 {
			t.Fatalf("an OrderPlaced in EUR stored as schema %d: schema 1 cannot say EUR", st.schema)
		}
		d := waitVersion(t, ctx, s, legacy.ID, 1, 10*time.Second)
		if d.Currency != order.DefaultCurrency || d.TotalCents != 300 {
			t.Fatalf("projected legacy order: %+v", d)
		}
		if len(d.History) != 1 || !strings.Contains(d.History[0].Text, "schema 1") || !strings.Contains(d.History[0].Text, "upcaster") {
			t.Fatalf("history of the legacy order: %+v", d.History)
		}
		if d := waitVersion(t, ctx, s, euro.ID, 1, 10*time.Second); d.Currency != "EUR" || strings.Contains(d.History[0].Text, "upcaster") {
			t.Fatalf("EUR order: %+v", d)
		}
		if n := figure(t, ctx, s, "workshop-legacy-written"); n != 1 {
			t.Fatalf("legacy written %v, want 1", n)
		}
		setControl(t, ctx, s, "legacy_events", "false")
		current := newPlace()
		if _, err := s.PlaceOrder(ctx, current); err != nil {
			t.Fatal(err)
		}
		if st := storedSchema(t, ctx, r.write, current.ID); st.schema != 2 {
			t.Fatalf("with the control off OrderPlaced stored as schema %d", st.schema)
		}
	})
}

type stored struct {
	schema  int
	payload string
}

func storedSchema(t *testing.T, ctx context.Context, write *bun.DB, id order.ID) stored {
	t.Helper()
	var st stored
	payload := "payload"
	if write.Dialect().Name().String() == "pg" {
		payload = "CAST(payload AS TEXT)"
	}
	if err := write.NewRaw("SELECT schema_version, "+payload+" FROM change_log WHERE order_id = ? AND order_version = 1", id).
		Scan(ctx, &st.schema, &st.payload); err != nil {
		t.Fatal(err)
	}
	events, err := changelog.ForOrder(ctx, write, id)
	if err != nil || len(events) != 1 {
		t.Fatalf("history of %s: %v, %v", id, events, err)
	}
	return st
}

// TestWorkshopControlsResetOnRestart: a stage started again on the same
// databases and bus has every control off.
func TestWorkshopControlsResetOnRestart(t *testing.T) {
	b := sqltest.Backends()[0]
	nc, namespace := natstest.Connect(t)
	write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
	start := func() (*stage3.Stage, context.Context) {
		s, err := stage3.New(stage3.Config{Write: write, Read: read, NATS: nc, Namespace: namespace,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workshop: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return s, ctx
	}
	s, ctx := start()
	for key, value := range map[string]string{
		"projector_delay_ms": "100", "projector": "paused", "relay": "paused", "write_db": "down",
		"command_bus": "async", "duplicate_deliveries_pct": "50", "reorder_deliveries": "true",
		"poison_order": order.NewID().String(), "legacy_events": "true",
	} {
		setControl(t, ctx, s, key, value)
	}
	for _, c := range s.Controls(ctx) {
		if !c.On() {
			t.Fatalf("control %s did not turn on: %+v", c.Key, c)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, ctx = start()
	defer s.Close()
	for _, c := range s.Controls(ctx) {
		if c.On() {
			t.Errorf("after a restart control %s is %q, want %q", c.Key, c.Value, c.Default)
		}
	}
	if id := placeOne(t, ctx, s); !projectedWithin(ctx, s, id, 10*time.Second) {
		t.Fatal("after a restart an order is not projected")
	}
}
