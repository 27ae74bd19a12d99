package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/tracing"
)

// TestRingKeepsTheLastTraces fills the ring past its bound: it keeps the
// newest traces, each with at most its bound of spans and its root, and
// forgets the oldest.
func TestRingKeepsTheLastTraces(t *testing.T) {
	tr, err := tracing.New(context.Background(), tracing.Config{Traces: 5, SpansPerTrace: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	var ids []trace.TraceID
	for i := range 12 {
		ctx, root := tr.Tracer().Start(context.Background(), "request "+strconv.Itoa(i), trace.WithAttributes(tracing.AttrRequestID.String("r"+strconv.Itoa(i))))
		for range 4 {
			_, child := tr.Tracer().Start(ctx, "child")
			child.End()
		}
		root.End()
		ids = append(ids, root.SpanContext().TraceID())
	}
	ring := tr.Ring()
	if ring.Len() != 5 || ring.Cap() != 5 {
		t.Fatalf("the ring holds %d traces (cap %d), want 5", ring.Len(), ring.Cap())
	}
	for i, id := range ids {
		got, ok := ring.Trace(id)
		if want := i >= 7; ok != want {
			t.Errorf("trace %d kept: %v, want %v", i, ok, want)
		}
		if ok && (len(got.Spans) != 4 || got.Dropped != 1 || got.Root().Name() != "request "+strconv.Itoa(i) || got.Request != "r"+strconv.Itoa(i)) {
			t.Errorf("trace %d has %d spans, %d dropped, root %q, request %q; want 3 children and the root, 1 dropped",
				i, len(got.Spans), got.Dropped, got.Root().Name(), got.Request)
		}
	}
	list := ring.Traces(tracing.Filter{})
	if len(list) != 5 || list[0].ID != ids[11] {
		t.Errorf("the list has %d traces, the first %s; want 5, newest first", len(list), list[0].ID)
	}
	ctx, root := tr.Tracer().Start(context.Background(), "found", trace.WithAttributes(tracing.AttrRequestID.String("wanted")))
	_, child := tr.Tracer().Start(ctx, "child", trace.WithAttributes(tracing.AttrOrderID.String("order-1")))
	child.End()
	root.End()
	if got := ring.Traces(tracing.Filter{Request: "wanted"}); len(got) != 1 || got[0].ID != root.SpanContext().TraceID() {
		t.Errorf("by request: %d traces", len(got))
	}
	if got := ring.Traces(tracing.Filter{Order: "order-1"}); len(got) != 1 || got[0].Root().Name() != "found" {
		t.Errorf("by order: %d traces", len(got))
	}
	if got := ring.Traces(tracing.Filter{Request: "r0"}); len(got) != 0 {
		t.Errorf("a forgotten request still finds %d traces", len(got))
	}
}

// TestExportsOverOTLPWhenTheEndpointIsSet points the standard variable at
// a small OTLP/HTTP receiver: the spans reach it. Without the variable
// nothing is exported.
func TestExportsOverOTLPWhenTheEndpointIsSet(t *testing.T) {
	var requests, bytes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP trace export", http.StatusBadRequest)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		requests.Add(1)
		bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	off, err := tracing.New(context.Background(), tracing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if off.Exporting() {
		t.Error("exporting without an endpoint")
	}
	off.Shutdown(context.Background())

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	tr, err := tracing.New(context.Background(), tracing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Exporting() {
		t.Fatal("not exporting with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	_, span := tr.Tracer().Start(context.Background(), "POST /api/commands/ship-order")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("flush to the receiver: %v", err)
	}
	if requests.Load() == 0 || bytes.Load() == 0 {
		t.Fatalf("the receiver got %d export requests (%d bytes)", requests.Load(), bytes.Load())
	}
	if tr.Ring().Len() != 1 {
		t.Errorf("the ring holds %d traces while exporting, want 1", tr.Ring().Len())
	}
}
