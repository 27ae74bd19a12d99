package bff

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/tracing"
)

// newTracedServer runs stages 0 to 2 (0 active) with tracing on.
func newTracedServer(t *testing.T) (*Server, *tracing.Tracing) {
	t.Helper()
	tr, err := tracing.New(context.Background(), tracing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 1: fakeStage{}, 2: fakeStage{}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Tracing: tr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	return s, tr
}

func TestRequestsAreTracedAndListed(t *testing.T) {
	s, tr := newTracedServer(t)
	req := httptest.NewRequest(http.MethodGet, "/architecture", nil)
	req.Header.Set("X-Request-Id", "arch-1")
	resp, err := s.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, s, "/static/app.css")
	get(t, s, "/healthz")
	traces := tr.Ring().Traces(tracing.Filter{})
	if len(traces) != 1 || traces[0].Request != "arch-1" || traces[0].Root().Name() != "GET /architecture" {
		t.Fatalf("the ring holds %d traces, want the architecture page's alone (assets and probes are not traced)", len(traces))
	}

	status, doc := get(t, s, "/traces")
	if status != http.StatusOK || doc.Find(`[data-testid="trace-row"]`).Length() != 1 {
		t.Fatalf("/traces: %d with %d rows", status, doc.Find(`[data-testid="trace-row"]`).Length())
	}
	if got := tr.Ring().Len(); got != 1 {
		t.Errorf("looking at the traces made traces: %d", got)
	}
	status, doc = get(t, s, "/traces/"+traces[0].ID.String())
	if status != http.StatusOK || doc.Find(`[data-testid="span-row"]`).Length() != 1 || doc.Find(`[data-testid="trace-title"]`).Text() != "GET /architecture" {
		t.Errorf("the trace's page: %d, %q", status, doc.Find(`[data-testid="trace-title"]`).Text())
	}
}

func TestACallersTraceGoesOn(t *testing.T) {
	s, tr := newTracedServer(t)
	req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	resp, err := s.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	got, ok := tr.Ring().Trace(id)
	if !ok || got.Root().Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Fatalf("the request did not continue the caller's trace (found %v)", ok)
	}
}

func TestBadTraceQueriesAreRefusedClearly(t *testing.T) {
	s, _ := newTracedServer(t)
	for _, c := range []struct {
		target string
		status int
		says   string
	}{
		{"/traces?order=nope", http.StatusBadRequest, "not an order ID"},
		{"/traces?request=a%20b", http.StatusBadRequest, "request ID"},
		{"/traces/xyz", http.StatusNotFound, "32 hexadecimal digits"},
		{"/traces/0af7651916cd43dd8448eb211c80319c", http.StatusNotFound, "not kept any more"},
		{"/traces?request=unknown", http.StatusOK, "No traces here yet"},
	} {
		status, doc := get(t, s, c.target)
		if status != c.status || !strings.Contains(doc.Text(), c.says) {
			t.Errorf("%s: %d, want %d saying %q", c.target, status, c.status, c.says)
		}
	}
}
