package acceptance

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/staircase/staircase/internal/tracing"
)

// pathSteps are the steps of a request's path that the trace of a command
// shows, in the order they start; the other statements are left out.
var pathSteps = []string{tracing.StepHTTP, tracing.StepStage, tracing.StepQueue, tracing.StepDequeue, tracing.StepHandler,
	tracing.StepChangeLog, tracing.StepCommit, tracing.StepPublish, tracing.StepProject}

// wantPath is the path a ship-order takes in each stage; in stage 3 its
// event reaches two projections, the orders' and the dashboard's.
func wantPath(e *env) []string {
	switch {
	case e.stage < 3:
		return []string{tracing.StepHTTP, tracing.StepStage, tracing.StepCommit}
	case e.async:
		return []string{tracing.StepHTTP, tracing.StepQueue, tracing.StepDequeue, tracing.StepHandler, tracing.StepChangeLog,
			tracing.StepCommit, tracing.StepPublish, tracing.StepProject, tracing.StepProject}
	}
	return []string{tracing.StepHTTP, tracing.StepHandler, tracing.StepChangeLog, tracing.StepCommit, tracing.StepPublish, tracing.StepProject, tracing.StepProject}
}

// stepsOf lists the path steps of a trace's spans, by start.
func stepsOf(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			if kv.Key == tracing.AttrStep && slices.Contains(pathSteps, kv.Value.AsString()) {
				out = append(out, kv.Value.AsString())
			}
		}
	}
	return out
}

// TestTraceOfACommand ships an order through the stage's API and finds the
// request's trace by its X-Request-Id: in every stage it holds the spans
// of the path the command took, in order, all in one trace — in stage 3
// across the command bus, the change log, the relay and the projector.
// The traces pages find it by request and by order.
func TestTraceOfACommand(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		id := placed(t, e, "Trace Lovelace")
		var r response
		if e.stage == 0 {
			r = e.json(http.MethodPut, "/api/orders/"+id, map[string]any{"status": "shipped"})
		} else {
			r = e.json(http.MethodPost, "/api/commands/ship-order", map[string]any{"id": id})
		}
		if r.status >= 300 {
			t.Fatalf("ship: %d %s", r.status, r.body)
		}
		rid := r.header.Get("X-Request-Id")
		if rid == "" {
			t.Fatal("the response has no X-Request-Id")
		}
		ring := e.app.Tracing.Ring()
		want := wantPath(e)
		var got []string
		var trace tracing.Trace
		found := 0
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			traces := ring.Traces(tracing.Filter{Request: rid})
			if found = len(traces); found == 1 {
				trace = traces[0]
				got = stepsOf(trace.Spans)
				if slices.Equal(got, want) {
					break
				}
			}
			if time.Now().After(deadline) {
				var names []string
				for _, s := range trace.Spans {
					names = append(names, s.Name())
				}
				t.Fatalf("request %s: %d traces, the path %s, want %s (spans: %s)", rid, found, strings.Join(got, " → "), strings.Join(want, " → "), strings.Join(names, ", "))
			}
		}
		if !slices.Contains(trace.Orders, id) {
			t.Errorf("the trace touched orders %v, not %s", trace.Orders, id)
		}

		// The traces page finds the request's trace, and the order's.
		page := e.do(http.MethodGet, "/traces?request="+rid, "", nil)
		if page.status != http.StatusSeeOther || page.header.Get("Location") != "/traces/"+trace.ID.String() {
			t.Fatalf("/traces?request=%s answers %d to %q, want 303 to its trace", rid, page.status, page.header.Get("Location"))
		}
		page = e.do(http.MethodGet, "/traces/"+trace.ID.String(), "", nil)
		if page.status != http.StatusOK || !strings.Contains(string(page.body), "committed v2") {
			t.Fatalf("the trace's page answers %d without the commit of v2: %s", page.status, page.body)
		}
		if e.stage == 3 && !strings.Contains(string(page.body), "projected (lag ") {
			t.Errorf("the trace's page does not say the projection's lag")
		}
		if e.async && !strings.Contains(string(page.body), "command bus (queued ") {
			t.Errorf("the trace's page does not say how long the command was queued")
		}
		page = e.do(http.MethodGet, "/traces?order="+id, "", nil)
		if page.status != http.StatusOK || !strings.Contains(string(page.body), trace.ID.String()) {
			t.Fatalf("the order's traces (%d) do not list the ship-order's trace", page.status)
		}
	})
}
