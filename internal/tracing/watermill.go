package tracing

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// A message carries its trace context in its metadata under the W3C
// names (traceparent, tracestate), as an HTTP request carries it in its
// headers: the bus keeps metadata as message headers, so the context
// survives the bus, other processes and restarts.

// Inject writes the span context of ctx into md.
func Inject(ctx context.Context, md map[string]string) {
	propagator.Inject(ctx, propagation.MapCarrier(md))
}

// Extract returns ctx with the span context md carries, if any, as its
// remote parent.
func Extract(ctx context.Context, md map[string]string) context.Context {
	return propagator.Extract(ctx, propagation.MapCarrier(md))
}

// Naming names a message's span and gives its attributes.
type Naming func(msg *message.Message) (name string, attrs []attribute.KeyValue)

// StartSend starts the producer span of sending msg: a child of the span
// in msg's context or, failing that, of the one its metadata carries (an
// event relayed from the change log). It writes the new span's context
// into the metadata, for the consumer to go on from, and returns the
// function that ends the span with the send's outcome. A message that
// belongs to no trace gets no span: end is then a no-op.
func StartSend(t trace.Tracer, msg *message.Message, step string, naming Naming) (end func(error)) {
	parent := msg.Context()
	if !trace.SpanContextFromContext(parent).IsValid() {
		parent = Extract(parent, msg.Metadata)
		if !trace.SpanContextFromContext(parent).IsValid() {
			return func(error) {}
		}
	}
	name, attrs := naming(msg)
	ctx, span := t.Start(parent, name, producerKind,
		trace.WithAttributes(append(attrs, AttrStep.String(step), attribute.String("messaging.message.id", msg.UUID))...))
	Inject(ctx, msg.Metadata)
	return func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// Consumer is router middleware that makes a consumer span of handling a
// message whose metadata carries a trace context (a message without one
// is handled as it is), and hands it to the handler in the message's
// context: what the handler does joins the trace of whoever sent it.
func Consumer(t trace.Tracer, step string, naming Naming) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			parent := Extract(msg.Context(), msg.Metadata)
			if !trace.SpanContextFromContext(parent).IsValid() {
				return h(msg)
			}
			name, attrs := naming(msg)
			ctx, span := t.Start(parent, name, consumerKind,
				trace.WithAttributes(append(attrs, AttrStep.String(step), attribute.String("messaging.message.id", msg.UUID))...))
			defer span.End()
			outer := msg.Context()
			msg.SetContext(ctx)
			out, err := h(msg)
			msg.SetContext(outer)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return out, err
		}
	}
}

// Publisher decorates a Watermill publisher: each message sent in a
// trace gets a producer span and carries the trace on (StartSend).
func Publisher(t trace.Tracer, pub message.Publisher, step string, naming Naming) message.Publisher {
	return &publisher{pub: pub, tracer: t, step: step, naming: naming}
}

type publisher struct {
	pub    message.Publisher
	tracer trace.Tracer
	step   string
	naming Naming
}

func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	ends := make([]func(error), len(msgs))
	for i, m := range msgs {
		ends[i] = StartSend(p.tracer, m, p.step, p.naming)
	}
	err := p.pub.Publish(topic, msgs...)
	for _, end := range ends {
		end(err)
	}
	return err
}

func (p *publisher) Close() error { return p.pub.Close() }
