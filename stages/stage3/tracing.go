package stage3

import (
	"context"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/tracing"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

// Tracing (Config.Tracer) follows one command along the stage's path, in
// one trace: the command bus (a span of queueing it, one of taking it off
// the bus: the trace context rides in the message's metadata), the
// handler, the change log, the relay's publish and the projector's apply.
// The change log records the trace context with the change's events
// (changelog.WithMetadata), so the relay and the projector join the trace
// even in another process or after a restart. Each piece is a seam: a
// decorator of the write side, a hook around the change-log append, a
// decorator of the command bus's and the relay's publishers, middleware
// of the projector's and the command handler's routers. Without a tracer
// none is plugged in.

// traceWriteSide is the write side h with a span per command.
func (s *Stage) traceWriteSide(h commandbus.Handlers) commandbus.Handlers {
	if s.cfg.Tracer == nil {
		return h
	}
	return tracing.Commands(s.cfg.Tracer, tracing.StepHandler, "handler ", h)
}

// traceChangeLog is the change-log hook with a span of the append, whose
// trace context is recorded with the events.
func (s *Stage) traceChangeLog(hook func(ctx context.Context, tx bun.Tx, events []order.Event) error) func(ctx context.Context, tx bun.Tx, events []order.Event) error {
	t := s.cfg.Tracer
	if t == nil {
		return hook
	}
	return func(ctx context.Context, tx bun.Tx, events []order.Event) error {
		if len(events) == 0 || !trace.SpanFromContext(ctx).IsRecording() {
			return hook(ctx, tx, events)
		}
		last := events[len(events)-1]
		ctx, span := t.Start(ctx, "change log: append "+last.Type, trace.WithAttributes(tracing.AttrStep.String(tracing.StepChangeLog),
			tracing.AttrOrderID.String(last.OrderID.String()), tracing.AttrVersion.Int(last.OrderVersion),
			attribute.Int("staircase.events", len(events))))
		defer span.End()
		md := make(map[string]string, 2)
		tracing.Inject(ctx, md)
		err := hook(changelog.WithMetadata(ctx, md), tx, events)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

// traceCommandBus is the command bus's publisher with a span per command
// queued.
func (s *Stage) traceCommandBus(pub message.Publisher) message.Publisher {
	if s.cfg.Tracer == nil {
		return pub
	}
	return tracing.Publisher(s.cfg.Tracer, pub, tracing.StepQueue, commandNaming("command bus: queue "))
}

// plugTracing plugs the tracing middleware into the projector's and the
// command handler's routers (and around each command of a group) and the
// decorator into the relay.
func (s *Stage) plugTracing() {
	t := s.cfg.Tracer
	if t == nil {
		return
	}
	// Outermost, so that the span covers retries and workshop delays.
	s.projector.middleware = append([]message.HandlerMiddleware{tracing.Consumer(t, tracing.StepProject, projectorNaming)},
		s.projector.middleware...)
	take := tracing.Consumer(t, tracing.StepDequeue, commandNaming("command handler: take "))
	s.bus.Router().AddMiddleware(take)
	s.bus.AddCommandMiddleware(take)
	s.relay.pub = tracedRelay{next: s.relay.pub, tracer: t}
}

// commandNaming names a command message's span after its type and order
// (the command bus's metadata).
func commandNaming(prefix string) tracing.Naming {
	return func(msg *message.Message) (string, []attribute.KeyValue) {
		return prefix + msg.Metadata.Get("command_type"), []attribute.KeyValue{tracing.AttrOrderID.String(msg.Metadata.Get(changelog.MetaOrderID))}
	}
}

// eventNaming names an event message's span after its type, version and
// order (metadata set by eventMessage).
func eventNaming(prefix string) tracing.Naming {
	return func(msg *message.Message) (string, []attribute.KeyValue) {
		v := msg.Metadata.Get(changelog.MetaVersion)
		attrs := []attribute.KeyValue{tracing.AttrOrderID.String(msg.Metadata.Get(changelog.MetaOrderID))}
		if n, err := strconv.Atoi(v); err == nil {
			attrs = append(attrs, tracing.AttrVersion.Int(n))
		}
		return prefix + msg.Metadata.Get(changelog.MetaType) + " v" + v, attrs
	}
}

// tracedRelay is the relay's publisher with a span per event published
// that has a trace: from the send to the bus's ack for a batch, the send
// alone for one event at a time (its ack is awaited later).
type tracedRelay struct {
	next   Publisher
	tracer trace.Tracer
}

var relayNaming = eventNaming("relay: publish ")

// projectorNaming names a projection span after the consumer that applies
// the event: the orders projector or the dashboard's.
func projectorNaming(msg *message.Message) (string, []attribute.KeyValue) {
	prefix := "projector: apply "
	if message.HandlerNameFromCtx(msg.Context()) == DashboardGroup {
		prefix = "dashboard projector: apply "
	}
	return eventNaming(prefix)(msg)
}

// PublishBatch makes a span of each traced event of the batch. When the
// batch fails, the messages get their trace context back: the relay sends
// them again, one at a time, and those sends are the append's children too.
func (p tracedRelay) PublishBatch(ctx context.Context, topic string, ms []*message.Message) error {
	type traced struct {
		m      *message.Message
		parent map[string]string
		end    func(error)
	}
	var sends []traced
	for _, m := range ms {
		if parent, ok := m.Metadata["traceparent"]; ok {
			was := map[string]string{"traceparent": parent}
			if state, ok := m.Metadata["tracestate"]; ok {
				was["tracestate"] = state
			}
			sends = append(sends, traced{m: m, parent: was, end: tracing.StartSend(p.tracer, m, tracing.StepPublish, relayNaming)})
		}
	}
	err := p.next.PublishBatch(ctx, topic, ms)
	for _, s := range sends {
		s.end(err)
		if err != nil {
			for k, v := range s.parent {
				s.m.Metadata.Set(k, v)
			}
		}
	}
	return err
}

func (p tracedRelay) PublishAsync(topic string, m *message.Message) (jetstream.PubAckFuture, error) {
	end := tracing.StartSend(p.tracer, m, tracing.StepPublish, relayNaming)
	f, err := p.next.PublishAsync(topic, m)
	end(err)
	return f, err
}
