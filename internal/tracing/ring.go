package tracing

import (
	"context"
	"slices"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Ring keeps the spans of the most recent traces in memory, for the traces
// pages: a span processor that files each ended span under its trace, and
// forgets the oldest trace when a new one would make more than its bound.
// A span of a trace already forgotten starts that trace again, with only
// what comes after.
//
// OnEnd runs on the path of the request that ends the span, so it only
// files the span (the SDK hands it a snapshot) under one lock.
type Ring struct {
	max, maxSpans int

	mu     sync.Mutex
	traces map[trace.TraceID]*bucket
	// order holds the traces from oldest to newest, as a circular buffer
	// of max slots starting at head.
	order []trace.TraceID
	head  int
}

// bucket is one trace's spans, in the order they ended.
type bucket struct {
	spans   []sdktrace.ReadOnlySpan
	dropped int
	first   time.Time // earliest start
	request string
	orders  []string
}

// NewRing returns a ring of at most traces traces of at most spans spans each.
func NewRing(traces, spans int) *Ring {
	return &Ring{max: traces, maxSpans: spans, traces: make(map[trace.TraceID]*bucket, traces)}
}

var _ sdktrace.SpanProcessor = (*Ring)(nil)

// OnStart does nothing: a span is filed when it ends.
func (r *Ring) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd files s under its trace.
func (r *Ring) OnEnd(s sdktrace.ReadOnlySpan) {
	id := s.SpanContext().TraceID()
	var request, orderID string
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case AttrRequestID:
			request = kv.Value.AsString()
		case AttrOrderID:
			orderID = kv.Value.AsString()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.traces[id]
	if b == nil {
		b = &bucket{first: s.StartTime(), spans: make([]sdktrace.ReadOnlySpan, 0, 16)}
		r.add(id, b)
	}
	// A trace past its bound keeps its root, which ends last and names
	// the request.
	if len(b.spans) >= r.maxSpans && s.Parent().IsValid() {
		b.dropped++
		return
	}
	b.spans = append(b.spans, s)
	if s.StartTime().Before(b.first) {
		b.first = s.StartTime()
	}
	if request != "" && b.request == "" {
		b.request = request
	}
	if orderID != "" && !slices.Contains(b.orders, orderID) {
		b.orders = append(b.orders, orderID)
	}
}

// add files a new trace, forgetting the oldest one when the ring is full.
func (r *Ring) add(id trace.TraceID, b *bucket) {
	if len(r.order) < r.max {
		r.order = append(r.order, id)
	} else {
		delete(r.traces, r.order[r.head])
		r.order[r.head] = id
		r.head = (r.head + 1) % r.max
	}
	r.traces[id] = b
}

// Shutdown does nothing: the ring lives as long as the process.
func (r *Ring) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing: spans are filed as they end.
func (r *Ring) ForceFlush(context.Context) error { return nil }

// Filter selects traces: by the request ID one of its spans carries, by an
// order one of its spans worked on. Empty fields select all.
type Filter struct {
	Request, Order string
	// Limit bounds how many are returned (0: all).
	Limit int
}

// Trace is one trace as the ring holds it.
type Trace struct {
	ID trace.TraceID
	// Spans are ordered by start time.
	Spans []sdktrace.ReadOnlySpan
	// Dropped counts the spans past the ring's bound per trace.
	Dropped int
	// Request is the request ID of the trace's request, if any; Orders
	// the orders its spans worked on.
	Request string
	Orders  []string
}

// Start is when the trace's first span started.
func (t Trace) Start() time.Time {
	if len(t.Spans) == 0 {
		return time.Time{}
	}
	return t.Spans[0].StartTime()
}

// End is when the trace's last span ended.
func (t Trace) End() time.Time {
	var end time.Time
	for _, s := range t.Spans {
		if s.EndTime().After(end) {
			end = s.EndTime()
		}
	}
	return end
}

// Root is the span that has no parent in the trace (the earliest of them),
// or the earliest span.
func (t Trace) Root() sdktrace.ReadOnlySpan {
	ids := make(map[trace.SpanID]bool, len(t.Spans))
	for _, s := range t.Spans {
		ids[s.SpanContext().SpanID()] = true
	}
	for _, s := range t.Spans {
		if !ids[s.Parent().SpanID()] {
			return s
		}
	}
	if len(t.Spans) > 0 {
		return t.Spans[0]
	}
	return nil
}

// Len is how many traces the ring holds.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.traces)
}

// Cap is how many traces the ring keeps at most.
func (r *Ring) Cap() int {
	if r == nil {
		return 0
	}
	return r.max
}

// Traces returns the traces f selects, newest first (by their start).
func (r *Ring) Traces(f Filter) []Trace {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := make([]Trace, 0, len(r.traces))
	for id, b := range r.traces {
		if f.Request != "" && b.request != f.Request || f.Order != "" && !slices.Contains(b.orders, f.Order) {
			continue
		}
		out = append(out, b.trace(id))
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Trace) int { return b.Start().Compare(a.Start()) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// Trace returns one trace, if the ring holds it.
func (r *Ring) Trace(id trace.TraceID) (Trace, bool) {
	if r == nil {
		return Trace{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.traces[id]
	if !ok {
		return Trace{}, false
	}
	return b.trace(id), true
}

// trace copies b out, its spans by start time. Call it holding the lock.
func (b *bucket) trace(id trace.TraceID) Trace {
	t := Trace{ID: id, Spans: slices.Clone(b.spans), Dropped: b.dropped, Request: b.request, Orders: slices.Clone(b.orders)}
	slices.SortStableFunc(t.Spans, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	return t
}
