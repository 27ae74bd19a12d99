package workshop

import (
	"context"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
)

// Async tells whether commands go through the command bus now.
func (c *Controls) Async() bool { return c.async.Load() }

func (c *Controls) commandBusControl() stageview.Control {
	value, start := Sync, Sync
	if c.async.Load() {
		value = Async
	}
	if c.startAsync {
		start = Async
	}
	// The path not taken is drawn faded.
	idle := stageview.Mark{Target: "command-bus", State: stageview.MarkIdle}
	if value == Async {
		idle.Target = "command-sync"
	}
	return stageview.Control{
		Key: CommandBus, Label: "Command bus", Kind: stageview.ControlChoice,
		Value: value, Default: start, Choices: choices(start, Sync, Async),
		Effect: "Sync: the modify API applies each command in the request (201/204). Async: it checks the command's fields, " +
			"queues it on the command bus and answers 202 Accepted; the command handler applies it. Switches live; " +
			"the default is --command-bus.",
		Watch: "The diagram redraws the path commands take, and the live panel's Accepted count moves in async mode. " +
			"Commands still queued when you switch to sync are applied by the command handler all the same.",
		Marks: []stageview.Mark{idle},
	}
}

// choices lists values with first, the default, at the head.
func choices(first string, values ...string) []string {
	out := []string{first}
	for _, v := range values {
		if v != first {
			out = append(out, v)
		}
	}
	return out
}

// Commands is the write side as the APIs see it, switched live by the
// command_bus control: sync applies a command through the command handlers
// in the request, async queues it on the command bus (commandbus.Queue).
// The command bus's own handler runs in both modes, so that commands
// queued before a switch to sync are still applied.
func (c *Controls) Commands(sync, async Handlers) Handlers {
	return switched{c: c, sync: sync, async: async}
}

type switched struct {
	c           *Controls
	sync, async Handlers
}

func (s switched) now() Handlers {
	if s.c.async.Load() {
		return s.async
	}
	return s.sync
}

func (s switched) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	return s.now().PlaceOrder(ctx, cmd)
}

func (s switched) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	return s.now().ChangeOrderLines(ctx, cmd)
}

func (s switched) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	return s.now().ShipOrder(ctx, cmd)
}

func (s switched) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	return s.now().DeliverOrder(ctx, cmd)
}

func (s switched) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	return s.now().CancelOrder(ctx, cmd)
}

func (s switched) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	return s.now().DeleteOrder(ctx, cmd)
}
