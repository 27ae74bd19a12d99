package stage3

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/commandbus"
	"github.com/staircase/staircase/stages/stage3/errorlog"
	"github.com/staircase/staircase/stages/stage3/workshop"
)

// plugWorkshop plugs the workshop controls (package workshop) into their
// seams: the relay's hook and the projector's router (and, each in its
// own function below, the decorators of the write side, the command
// side, the change-log hook, the projector's subscriber and handler, and
// the error log). Without Config.Workshop it plugs nothing.
func (s *Stage) plugWorkshop() {
	if s.workshop == nil {
		return
	}
	s.relay.hold = s.workshop.RelayPaused
	s.projector.middleware = []message.HandlerMiddleware{s.workshop.Middleware}
}

// workshopWriteSide is the write side h, decorated by the workshop's
// write_db control when the controls are on.
func (s *Stage) workshopWriteSide(h *command.Handlers) commandbus.Handlers {
	if s.workshop == nil {
		return h
	}
	return s.workshop.WriteSide(h)
}

// workshopSubscriber is the projector's subscriber with the workshop
// controls on: it pulls one event at a time, so that an event the
// projector holds (paused, delayed) is the only one out of the stream —
// the others wait on the bus, where the backlog shows them — and an event
// held back to reorder deliveries comes back after workshop.NakDelay.
func workshopSubscriber(cfg messaging.SubscriberConfig) messaging.SubscriberConfig {
	cfg.PullBatch = 1
	cfg.NakDelay = workshop.NakDelay
	return cfg
}

// workshopCommandBus makes the command side switchable live between sync
// and async (the command_bus control), starting from Config.CommandBus;
// the read side shows the command bus's rejections in both modes, and
// which events of an order were upcast.
func (s *Stage) workshopCommandBus(handlers commandbus.Handlers, reads readModel) {
	if s.workshop == nil {
		return
	}
	s.Commands = s.workshop.Commands(handlers, s.bus.Queue(reads))
	s.readModel = s.workshop.Upcasts(s.bus.Rejections(reads), s.cfg.Write)
}

// asyncCommands tells whether commands go through the command bus now.
func (s *Stage) asyncCommands() bool {
	if s.workshop == nil {
		return s.cfg.CommandBus == CommandBusAsync
	}
	return s.workshop.Async()
}

// workshopChangeLog is the repository's change-log hook h, decorated by
// the legacy_events control.
func (s *Stage) workshopChangeLog(h workshop.ChangeLog) workshop.ChangeLog {
	if s.workshop == nil {
		return h
	}
	return s.workshop.Legacy(h)
}

// workshopEvents is the projector's subscriber, decorated by the
// duplicate_deliveries_pct and reorder_deliveries controls.
func (s *Stage) workshopEvents(sub message.Subscriber) message.Subscriber {
	if s.workshop == nil {
		return sub
	}
	return s.workshop.Deliveries(sub)
}

// workshopHolding is the projector's wrapper w with the poison_order
// control inside its retries: a poisoned event fails each attempt and is
// parked.
func (s *Stage) workshopHolding(w Wrapper) Wrapper {
	if s.workshop == nil {
		return w
	}
	return poisoning{Wrapper: w, c: s.workshop}
}

type poisoning struct {
	Wrapper
	c *workshop.Controls
}

func (p poisoning) Holding(next message.NoPublishHandlerFunc) message.NoPublishHandlerFunc {
	return p.Wrapper.Holding(p.c.Poison(next))
}

// workshopErrorLog is the error log l, which replays no event of the
// poisoned order.
func (s *Stage) workshopErrorLog(l *errorlog.Log) *errorlog.Log {
	if s.workshop == nil {
		return l
	}
	return l.Checking(s.workshop.Check)
}

// workshopFigures adds what the controls did to the live figures.
func (s *Stage) workshopFigures(f stageview.Figures) stageview.Figures {
	if s.workshop != nil {
		f.Groups = append(f.Groups, s.workshop.Figures())
	}
	return f
}

// Controls lists the workshop controls with their current values; none
// without Config.Workshop.
func (s *Stage) Controls(context.Context) []stageview.Control {
	if s.workshop == nil {
		return nil
	}
	return s.workshop.List()
}

// SetControl sets a workshop control: ENOTFOUND for an unknown one (any,
// without Config.Workshop), EINVALID for a value it does not take.
func (s *Stage) SetControl(ctx context.Context, key, value string) error {
	if s.workshop == nil {
		return order.Errorf(order.ENOTFOUND, "the workshop controls are off (staircase serve --workshop)")
	}
	if err := s.workshop.Set(key, value); err != nil {
		return err
	}
	s.cfg.Logger.InfoContext(ctx, "workshop control set", "control", key, "value", value)
	return nil
}
