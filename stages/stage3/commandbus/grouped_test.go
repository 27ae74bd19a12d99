package commandbus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

// A group of commands is applied in one transaction: each command once,
// those of one order in their order, a rejected one recorded as rejected
// without spoiling the others; a commit that fails applies nothing of the
// group, whether the group then waits on the bus (the write database went
// away) or is applied one command at a time; a group delivered again, as
// after a crash between the commit and the ack, changes nothing.
func TestGroupedCommandsApplyOnceInOrder(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				fail error // the first commit's error
			}{
				{"committed_at_once", nil},
				{"commit_failed_while_the_database_was_down", fmt.Errorf("commit: %w", commandbus.ErrWriteDown)},
				{"commit_failed_and_applied_one_at_a_time", errors.New("commit refused")},
			} {
				t.Run(tc.name, func(t *testing.T) { testGrouped(t, b, tc.fail) })
			}
		})
	}
}

func testGrouped(t *testing.T, be sqltest.Backend, fail error) {
	ctx := context.Background()
	write := sqltest.Open(t, be, migrations.Write)
	nc, namespace := natstest.Connect(t)
	topic := namespace + messaging.CommandsTopic
	repo := command.NewRepository(write, command.WithChangeLog(func(ctx context.Context, tx bun.Tx, events []order.Event) error {
		if err := changelog.Append(ctx, tx, events); err != nil {
			return err
		}
		return commandbus.RecordApplied(ctx, tx, events)
	}), command.JoinTx(commandbus.GroupTx))
	pub, err := messaging.NewPublisher(nc, messaging.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var committed, rejections atomic.Int32
	bus, err := commandbus.New(commandbus.Config{Write: write, NATS: nc, Topic: topic, Group: namespace + "grouped",
		AckWait: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Committed: func() { committed.Add(1) },
		Rejected: func(order.ID) { rejections.Add(1) }},
		command.New(repo), pub, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	var commits atomic.Int32
	commandbus.FailBeforeCommit(bus, func() error {
		if commits.Add(1) == 1 && fail != nil {
			return fail
		}
		return nil
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- bus.Router().Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
		_ = bus.Close()
	})
	select {
	case <-bus.Router().Running():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("the command handler did not start")
	}

	a, c := order.NewID(), order.NewID()
	lines := []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 2, UnitPriceCents: 250}}
	cmds := []commandbus.BusCommand{
		{Type: commandbus.TypePlace, OrderID: a, Place: &order.PlaceOrder{ID: a, Customer: "Ada", Address: "1 Loop Rd", Lines: lines}},
		{Type: commandbus.TypeChangeLines, OrderID: a, ChangeLines: &order.ChangeOrderLines{ID: a, Lines: append(lines, order.Line{SKU: "B-2", Name: "Bolt", Quantity: 5, UnitPriceCents: 30})}},
		{Type: commandbus.TypePlace, OrderID: c, Place: &order.PlaceOrder{ID: c, Customer: "Cy", Address: "2 Loop Rd", Lines: lines}},
		{Type: commandbus.TypeShip, OrderID: a, Ship: &order.ShipOrder{ID: a}},
		{Type: commandbus.TypeCancel, OrderID: a, Cancel: &order.CancelOrder{ID: a, Reason: "too late"}}, // a is shipped: rejected
		{Type: commandbus.TypeShip, OrderID: c, Ship: &order.ShipOrder{ID: c, ExpectedVersion: 1}},
	}
	msgs := make([]*message.Message, len(cmds))
	for i := range cmds {
		if msgs[i], err = commandbus.CommandMarshaler.Marshal(&cmds[i]); err != nil {
			t.Fatal(err)
		}
		msgs[i].UUID = order.NewID().String()
	}
	group, err := commandbus.PackGroup(msgs)
	if err != nil {
		t.Fatal(err)
	}
	// Twice, without deduplication: the second copy is the group delivered
	// again after its commit.
	raw := rawPublisher(t, nc)
	for range 2 {
		if err := raw.Publish(messaging.Subject(topic), group.Copy()); err != nil {
			t.Fatal(err)
		}
	}
	// A last command alone: commands apply in order, so once it is
	// applied both copies of the group have been handled.
	last := order.NewID()
	m, err := commandbus.CommandMarshaler.Marshal(&commandbus.BusCommand{Type: commandbus.TypePlace, OrderID: last,
		Place: &order.PlaceOrder{ID: last, Customer: "Lou", Address: "3 Loop Rd", Lines: lines}})
	if err != nil {
		t.Fatal(err)
	}
	m.UUID = order.NewID().String()
	if err := pub.Publish(topic, m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for countProcessed(t, write, m.UUID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the commands were not applied")
		}
		time.Sleep(20 * time.Millisecond)
	}

	want := []string{"applied", "applied", "applied", "applied", "rejected", "applied"}
	for i, msg := range msgs {
		var rows []commandbus.ProcessedRow
		if err := write.NewSelect().Model(&rows).Where("command_id = ?", msg.UUID).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Status != want[i] {
			t.Fatalf("command %d (%s): records %+v, want one %s", i, cmds[i].Type, rows, want[i])
		}
	}
	for id, versions := range map[order.ID][]int{a: {1, 2, 3}, c: {1, 2}} {
		var got []int
		if err := write.NewSelect().Table("change_log").Column("order_version").Where("order_id = ?", id).OrderExpr("seq").Scan(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(versions) {
			t.Fatalf("order %s: events of versions %v in the change log, want %v", id, got, versions)
		}
	}
	// The copy of the group is skipped command by command, not
	// rejected again: the one rejection is the cancel's.
	if n := rejections.Load(); n != 1 {
		t.Errorf("%d rejections, want 1", n)
	}
	switch {
	case fail == nil && commits.Load() != 2: // the group, and its copy (all skipped)
		t.Errorf("%d group commits, want 2", commits.Load())
	case errors.Is(fail, commandbus.ErrWriteDown) && commits.Load() != 3: // failed, the group again, its copy
		t.Errorf("%d group commits, want 3: the group waits on the bus and comes again whole", commits.Load())
	}
	succeeded := commits.Load()
	if fail != nil {
		succeeded--
	}
	if committed.Load() != succeeded {
		t.Errorf("told of %d commits, %d succeeded", committed.Load(), succeeded)
	}
}
