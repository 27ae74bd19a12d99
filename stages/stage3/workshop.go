package stage3

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3/command"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

// plugWorkshop plugs the workshop controls (package workshop) into their
// seams: the relay's hook and the projector's router (the write side's
// decorator: workshopWriteSide). Without
// Config.Workshop it plugs nothing.
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
// the others wait on the bus, where the backlog shows them.
func workshopSubscriber(cfg messaging.SubscriberConfig) messaging.SubscriberConfig {
	cfg.PullBatch = 1
	return cfg
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
