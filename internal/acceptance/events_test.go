package acceptance

import (
	"net/http"
	"strings"
	"testing"
)

// TestTheEventViewerInEveryStage: stage 3 lists the events of what was
// written, published and projected; stages 0–2 write no change log and say
// so, on the page and in the API; the catalog answers in every stage.
func TestTheEventViewerInEveryStage(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		id := placed(t, e, "Ada Events")
		b := browser{e}
		doc, r := b.page(t, "/events")
		if r.status != http.StatusOK {
			t.Fatalf("/events answers %d", r.status)
		}
		api := e.do(http.MethodGet, "/api/events?order="+id, "", nil)
		cat := e.do(http.MethodGet, "/api/events/catalog", "", nil)
		if cat.status != http.StatusOK || !strings.Contains(string(cat.body), `"OrderPlaced"`) {
			t.Errorf("GET /api/events/catalog: %d %s", cat.status, cat.body)
		}
		if e.stage < 3 {
			if doc.Find(`[data-testid="no-change-log"]`).Length() != 1 {
				t.Error("/events does not say the stage writes no change log")
			}
			if api.status != http.StatusNotFound || !strings.Contains(api.problem(t).Detail, "writes no change log") {
				t.Errorf("GET /api/events: %d %s", api.status, api.body)
			}
			return
		}
		type listing struct {
			Events []struct {
				OrderID    string `json:"order_id"`
				Type       string `json:"type"`
				Published  bool   `json:"published"`
				Projection string `json:"projection"`
			} `json:"events"`
		}
		eventually(t, "the order's OrderPlaced is published and projected", func() bool {
			r := e.do(http.MethodGet, "/api/events?order="+id, "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET /api/events: %d %s", r.status, r.body)
			}
			l := decode[listing](t, r)
			return len(l.Events) == 1 && l.Events[0].Type == "OrderPlaced" && l.Events[0].Published && l.Events[0].Projection == "projected"
		})
		bad := e.do(http.MethodGet, "/api/events?order=nope", "", nil)
		if bad.status != http.StatusUnprocessableEntity || !bad.problem(t).hasField("order") {
			t.Errorf("GET /api/events?order=nope: %d %s", bad.status, bad.body)
		}
	})
}
