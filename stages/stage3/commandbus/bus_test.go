package commandbus_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/metrics"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/commandbus"
	"github.com/staircase/staircase/stages/stage3/projection"
)

// busStage is a running stage 3 in async mode for the command bus tests.
type busStage struct {
	*stage3.Stage
	nc      *nats.Conn
	topic   string
	write   *bun.DB
	metrics *metrics.Registry
}

// startBusStage runs stage 3 with its command bus on backend b: on the NATS
// server of STAIRCASE_TEST_NATS (in a namespace of its own, removed after)
// or an embedded one.
func startBusStage(t *testing.T, b sqltest.Backend) busStage {
	t.Helper()
	nc, namespace := natstest.Connect(t)
	write, reg := sqltest.Open(t, b, migrations.Write), metrics.NewRegistry()
	s, err := stage3.New(stage3.Config{
		Write: write, Read: sqltest.Open(t, b, migrations.Read), NATS: nc,
		Namespace: namespace, CommandBus: stage3.CommandBusAsync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return busStage{Stage: s, nc: nc, topic: namespace + messaging.CommandsTopic, write: write, metrics: reg}
}

// settled waits until the queued command is applied or rejected.
func (s busStage) settled(t *testing.T, commandID string) commandbus.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		st, err := s.CommandStatus(context.Background(), commandID)
		if err == nil && st.Status != commandbus.CommandQueued {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %s still %q (%v)", commandID, st.Status, err)
		}
		time.Sleep(wait)
	}
}

func TestCommandBus(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := startBusStage(t, b)
			t.Run("a command delivered twice is applied once", func(t *testing.T) { testDoubleDelivery(t, s) })
			t.Run("a command that breaks a rule is rejected and shown on the order", func(t *testing.T) { testRejected(t, s) })
			t.Run("bad input is refused before it is queued", func(t *testing.T) { testShape(t, s) })
			t.Run("the command bus counts what it accepted, applied and rejected", func(t *testing.T) { testCounted(t, s) })
			t.Run("a command that does not decode is parked and the commands behind it go on", func(t *testing.T) { testUndecodableParked(t, s) })
			t.Run("a command that keeps failing is parked after its retries; a replay re-queues it", func(t *testing.T) { testFailingParked(t, s) })
		})
	}
}

func placeQueued(t *testing.T, s busStage) order.ID {
	t.Helper()
	cmd := order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
		Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 2, UnitPriceCents: 250}}}
	ack, err := s.PlaceOrder(context.Background(), cmd)
	if err != nil || !ack.Accepted || ack.CommandID == "" || ack.ID != cmd.ID {
		t.Fatalf("place: %+v, %v", ack, err)
	}
	if st := s.settled(t, ack.CommandID); st.Status != commandbus.CommandApplied || st.Version != 1 || st.Type != commandbus.TypePlace || st.OrderID != cmd.ID {
		t.Fatalf("place: %+v", st)
	}
	return cmd.ID
}

// testDoubleDelivery publishes one change-lines message twice with the same
// UUID, bypassing JetStream's deduplication (no Nats-Msg-Id), so that the
// command handler really receives it twice. Changing lines is not
// idempotent by itself (each change makes a version), so only the
// processed_commands record keeps the second copy from applying.
func testDoubleDelivery(t *testing.T, s busStage) {
	ctx := context.Background()
	id := placeQueued(t, s)
	cmd := commandbus.BusCommand{Type: commandbus.TypeChangeLines, OrderID: id, ChangeLines: &order.ChangeOrderLines{ID: id,
		Lines: []order.Line{{SKU: "B-2", Name: "Bolt", Quantity: 5, UnitPriceCents: 30}}}}
	msg, err := commandbus.CommandMarshaler.Marshal(&cmd)
	if err != nil {
		t.Fatal(err)
	}
	commandID := order.NewID().String()
	msg.UUID = commandID
	pub, err := wmnats.NewPublisherWithNatsConn(s.nc, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: func(_, topic string) *wmnats.SubjectDetail { return &wmnats.SubjectDetail{Primary: topic} },
		JetStream:         wmnats.JetStreamConfig{TrackMsgId: false},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		// Copy keeps the UUID and the metadata the processor routes by.
		if err := pub.Publish(s.topic, msg.Copy()); err != nil {
			t.Fatal(err)
		}
	}

	// A later command: commands apply in order, so once it is applied
	// both copies have been handled.
	ack, err := s.ShipOrder(ctx, order.ShipOrder{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.settled(t, ack.CommandID); st.Status != commandbus.CommandApplied || st.Version != 3 {
		t.Fatalf("ship after the double delivery: %+v (version 3 means the lines changed once)", st)
	}
	if st := s.settled(t, commandID); st.Status != commandbus.CommandApplied || st.Version != 2 {
		t.Fatalf("the doubly delivered command: %+v", st)
	}
	events, err := changelog.ForOrder(ctx, s.write, id)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	if len(types) != 3 || types[1] != "OrderLinesChanged" || types[2] != "OrderShipped" {
		t.Fatalf("change log of the order: %v", types)
	}
	if n := countProcessed(t, s.write, commandID); n != 1 {
		t.Fatalf("%d records of the command", n)
	}
}

func countProcessed(t *testing.T, db *bun.DB, commandID string) int {
	t.Helper()
	n, err := db.NewSelect().Model((*commandbus.ProcessedRow)(nil)).Where("command_id = ?", commandID).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func testRejected(t *testing.T, s busStage) {
	ctx := context.Background()
	id := placeQueued(t, s)
	ack, err := s.ShipOrder(ctx, order.ShipOrder{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	s.settled(t, ack.CommandID)
	ack, err = s.CancelOrder(ctx, order.CancelOrder{ID: id, Reason: "too late"})
	if err != nil || !ack.Accepted {
		t.Fatalf("cancel: %+v, %v", ack, err)
	}
	st := s.settled(t, ack.CommandID)
	if st.Status != commandbus.CommandRejected || order.ErrorCode(st.Err) != order.ECONFLICT || st.Version != 2 {
		t.Fatalf("cancel of a shipped order: %+v", st)
	}
	var d order.Detail
	deadline := time.Now().Add(15 * time.Second)
	for {
		if d, err = s.OrderDetail(ctx, id); err == nil && d.Version >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order not at version 2 on the read side: %+v, %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.Rejection != "rejected: cannot cancel an order that is shipped" {
		t.Fatalf("rejection on the order: %q", d.Rejection)
	}
	// A later change hides the rejection: it is no longer news.
	ack, err = s.DeliverOrder(ctx, order.DeliverOrder{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	s.settled(t, ack.CommandID)
	for {
		if d, err = s.OrderDetail(ctx, id); err == nil && d.Version >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order not at version 3 on the read side: %+v, %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.Rejection != "" {
		t.Fatalf("rejection still shown after a later change: %q", d.Rejection)
	}
}

func testShape(t *testing.T, s busStage) {
	ctx := context.Background()
	id := order.NewID()
	for name, call := range map[string]func() (order.Ack, error){
		"place without lines": func() (order.Ack, error) {
			return s.PlaceOrder(ctx, order.PlaceOrder{ID: id, Customer: "Ada", Address: "Here"})
		},
		"lines with zero quantity": func() (order.Ack, error) {
			return s.ChangeOrderLines(ctx, order.ChangeOrderLines{ID: id, Lines: []order.Line{{SKU: "A", Name: "B"}}})
		},
		"negative expected version": func() (order.Ack, error) {
			return s.ShipOrder(ctx, order.ShipOrder{ID: id, ExpectedVersion: -1})
		},
		"reason with control characters": func() (order.Ack, error) {
			return s.CancelOrder(ctx, order.CancelOrder{ID: id, Reason: "no\x00"})
		},
		"no order ID": func() (order.Ack, error) { return s.DeleteOrder(ctx, order.DeleteOrder{}) },
	} {
		if ack, err := call(); order.ErrorCode(err) != order.EINVALID || ack.Accepted {
			t.Errorf("%s: %+v, %v; want EINVALID before queueing", name, ack, err)
		}
	}
	// What only the order can decide is queued: the handler rejects it.
	ack, err := s.DeliverOrder(ctx, order.DeliverOrder{ID: id, ExpectedVersion: 4})
	if err != nil || !ack.Accepted {
		t.Fatalf("deliver of an unknown order: %+v, %v", ack, err)
	}
	if st := s.settled(t, ack.CommandID); st.Status != commandbus.CommandRejected || order.ErrorCode(st.Err) != order.ENOTFOUND {
		t.Fatalf("deliver of an unknown order: %+v", st)
	}
}

// testCounted checks the command bus's counters, which the architecture
// page shows: a command counts as accepted when it is queued, then as
// applied or rejected once, when it is taken off the bus.
func testCounted(t *testing.T, s busStage) {
	ctx := context.Background()
	count := func(outcome string) float64 {
		v, _ := s.metrics.Value(ctx, "staircase_command_bus_commands_total", outcome)
		return v
	}
	accepted, applied, rejected := count("accepted"), count("applied"), count("rejected")

	if _, err := s.PlaceOrder(ctx, order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "Here"}); err == nil {
		t.Fatal("a place-order without lines was queued")
	}
	id := placeQueued(t, s)
	for _, send := range []func() (order.Ack, error){
		func() (order.Ack, error) { return s.ShipOrder(ctx, order.ShipOrder{ID: id}) },
		func() (order.Ack, error) { return s.CancelOrder(ctx, order.CancelOrder{ID: id, Reason: "too late"}) },
		func() (order.Ack, error) { return s.DeliverOrder(ctx, order.DeliverOrder{ID: id}) },
	} {
		ack, err := send()
		if err != nil {
			t.Fatal(err)
		}
		s.settled(t, ack.CommandID)
	}
	// Counted when sent: exact. The cancel was rejected before the
	// deliver was taken off the bus (one command in flight): exact too.
	if d := count("accepted") - accepted; d != 4 {
		t.Errorf("accepted +%v, want +4 (the refused command is not queued)", d)
	}
	if d := count("rejected") - rejected; d != 1 {
		t.Errorf("rejected +%v, want +1", d)
	}
	// The deliver is counted just after it is recorded as applied.
	deadline := time.Now().Add(5 * time.Second)
	for count("applied")-applied < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := count("applied") - applied; d != 3 {
		t.Errorf("applied +%v, want +3 (place, ship, deliver)", d)
	}
}

// rawPublisher publishes to the bus as is, without deduplication.
func rawPublisher(t *testing.T, nc *nats.Conn) *wmnats.Publisher {
	t.Helper()
	pub, err := wmnats.NewPublisherWithNatsConn(nc, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: func(_, topic string) *wmnats.SubjectDetail { return &wmnats.SubjectDetail{Primary: topic} },
		JetStream:         wmnats.JetStreamConfig{TrackMsgId: false},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// commandEntry waits for the error log's entry of a command.
func commandEntry(t *testing.T, s busStage, commandID string, status string) projection.ErrorEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, err := s.ErrorLog().List(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.EventID.String() == commandID && e.Status == status {
				if e.Kind != projection.KindCommand {
					t.Fatalf("entry %+v is not a command entry", e)
				}
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s entry of command %s in the error log: %+v", status, commandID, entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testUndecodableParked(t *testing.T, s busStage) {
	ctx := context.Background()
	bad := message.NewMessage(order.NewID().String(), []byte(`{"type": "ShipOrder", "ship": {"id": 42`))
	bad.Metadata.Set("name", commandbus.CommandMarshaler.Name(&commandbus.BusCommand{}))
	bad.Metadata.Set("command_type", "ShipOrder")
	if err := rawPublisher(t, s.nc).Publish(s.topic, bad); err != nil {
		t.Fatal(err)
	}
	// The command behind it is applied.
	placeQueued(t, s)
	e := commandEntry(t, s, bad.UUID, projection.StatusParked)
	if e.Type != "ShipOrder" || e.Envelope != string(bad.Payload) || !strings.Contains(e.Error, "decode") {
		t.Fatalf("parked %+v", e)
	}
	// Discarding it settles it for good.
	if _, err := s.ErrorLog().Discard(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	commandEntry(t, s, bad.UUID, projection.StatusDiscarded)
	// Command entries hold no order's events back.
	if entries, err := s.ErrorLog().List(ctx, projection.StatusHeld); err != nil || len(entries) != 0 {
		t.Fatalf("held entries: %+v, %v", entries, err)
	}
}

// testFailingParked makes the write database refuse one customer's orders
// (a trigger: the database answers, the command fails every time), so that
// a place-order for that customer fails all its retries.
func testFailingParked(t *testing.T, s busStage) {
	ctx := context.Background()
	ddl := []string{`CREATE TRIGGER refuse_poison BEFORE INSERT ON orders FOR EACH ROW WHEN (NEW.customer = 'Poison')
		BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END`}
	drop := []string{`DROP TRIGGER refuse_poison`}
	if sqlstore.DialectName(s.write) == sqlstore.Postgres {
		ddl = []string{`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'refused by a trigger'; END $$`,
			`CREATE TRIGGER refuse_poison BEFORE INSERT ON orders FOR EACH ROW WHEN (NEW.customer = 'Poison')
			EXECUTE FUNCTION refuse_poison()`}
		drop = []string{`DROP TRIGGER refuse_poison ON orders`, `DROP FUNCTION refuse_poison()`}
	}
	for _, q := range ddl {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	cmd := order.PlaceOrder{ID: order.NewID(), Customer: "Poison", Address: "1 Loop Rd",
		Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 2, UnitPriceCents: 250}}}
	ack, err := s.PlaceOrder(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	// The command behind it is applied.
	placeQueued(t, s)
	e := commandEntry(t, s, ack.CommandID, projection.StatusParked)
	if e.Type != commandbus.TypePlace || e.OrderID != cmd.ID || e.Attempts < 2 {
		t.Fatalf("parked %+v", e)
	}
	if st, err := s.CommandStatus(ctx, ack.CommandID); err != nil || st.Status != commandbus.CommandQueued {
		t.Fatalf("parked command's status: %+v, %v", st, err)
	}
	// Once the cause is gone, a replay re-queues it and it is applied,
	// under the ID it was accepted with.
	for _, q := range drop {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	report, err := s.ErrorLog().Replay(ctx, e.ID, false)
	if err != nil || report.Applied != 1 || !strings.HasPrefix(report.Steps[0].Text, "re-queued") {
		t.Fatalf("replay: %+v, %v", report, err)
	}
	if st := s.settled(t, ack.CommandID); st.Status != commandbus.CommandApplied || st.Version != 1 {
		t.Fatalf("re-queued command: %+v", st)
	}
	commandEntry(t, s, ack.CommandID, projection.StatusReplayed)
}
