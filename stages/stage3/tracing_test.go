package stage3_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/internal/tracing"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
)

// TestTraceGoesOnAfterARestart places an order with one instance of the
// stage, whose relay and projector never run (as if it crashed),
// and lets a second instance with tracing of its own relay and project it.
// The trace context reached the second instance only through the change
// log: its publish and apply spans join the first instance's trace, under
// the span that appended the event.
func TestTraceGoesOnAfterARestart(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			write, read := sqltest.Open(t, b, migrations.Write), sqltest.Open(t, b, migrations.Read)
			nc, namespace := natstest.Connect(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))

			first := newTracing(t)
			before, err := stage3.New(stage3.Config{Write: write, Read: read, NATS: nc, Namespace: namespace, Logger: logger,
				Tracer: first.Tracer()})
			if err != nil {
				t.Fatal(err)
			}
			reqCtx, req := first.Tracer().Start(ctx, "POST /api/commands/place-order")
			id := placeOne(t, reqCtx, before)
			req.End()
			// The first instance goes no further: its relay and projector
			// never ran, like an instance that crashed after the commit.
			var appended trace.SpanID
			for _, s := range onlyTrace(t, first, req.SpanContext().TraceID()).Spans {
				if stepOf(s) == tracing.StepChangeLog {
					appended = s.SpanContext().SpanID()
				}
			}
			if !appended.IsValid() {
				t.Fatal("the first instance made no span of the change-log append")
			}

			second := newTracing(t)
			after, err := stage3.New(stage3.Config{Write: write, Read: read, NATS: nc, Namespace: namespace, Logger: logger,
				Tracer: second.Tracer()})
			if err != nil {
				t.Fatal(err)
			}
			if err := after.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { after.Close() })
			if !projectedWithin(ctx, after, id, 15*time.Second) {
				t.Fatal("the second instance did not project the order")
			}
			var published, projected sdktrace.ReadOnlySpan
			deadline := time.Now().Add(10 * time.Second)
			for projected == nil && time.Now().Before(deadline) {
				if tr, ok := second.Ring().Trace(req.SpanContext().TraceID()); ok {
					for _, s := range tr.Spans {
						switch stepOf(s) {
						case tracing.StepPublish:
							published = s
						case tracing.StepProject:
							projected = s
						}
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if published == nil || projected == nil {
				t.Fatalf("the second instance's spans did not join the order's trace (publish %v, apply %v)", published != nil, projected != nil)
			}
			if published.Parent().SpanID() != appended {
				t.Errorf("the publish span's parent is %s, not the append's span %s", published.Parent().SpanID(), appended)
			}
			if projected.Parent().SpanID() != published.SpanContext().SpanID() {
				t.Errorf("the apply span's parent is %s, not the publish span %s", projected.Parent().SpanID(), published.SpanContext().SpanID())
			}
			if got := attr(projected, tracing.AttrOrderID); got != id.String() {
				t.Errorf("the apply span is of order %q, want %s", got, id)
			}
		})
	}
}

func newTracing(t *testing.T) *tracing.Tracing {
	t.Helper()
	tr, err := tracing.New(context.Background(), tracing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr
}

func onlyTrace(t *testing.T, tr *tracing.Tracing, id trace.TraceID) tracing.Trace {
	t.Helper()
	got, ok := tr.Ring().Trace(id)
	if !ok {
		t.Fatalf("no trace %s", id)
	}
	return got
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.Emit()
		}
	}
	return ""
}

func stepOf(s sdktrace.ReadOnlySpan) string { return attr(s, tracing.AttrStep) }
