package bff

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staircase/staircase/internal/metrics"
)

// liveRegistry holds what stage 3 and the BFF count, with known values.
type liveRegistry struct {
	reg                                                     *metrics.Registry
	sides, bus                                              *metrics.CounterVec
	published, applied, duplicate, parked, held, gapRetries *metrics.Counter
	lag, newest                                             *metrics.Gauge
}

func newLiveRegistry() *liveRegistry {
	reg := metrics.NewRegistry()
	r := &liveRegistry{
		reg:        reg,
		sides:      reg.CounterVec(metrics.SideRequests, "h", "side", "via"),
		bus:        reg.CounterVec(metrics.BusCommands, "h", "outcome"),
		published:  reg.Counter(metrics.RelayPublished, "h"),
		applied:    reg.Counter(metrics.ProjectorApplied, "h"),
		duplicate:  reg.Counter(metrics.ProjectorDuplicate, "h"),
		parked:     reg.Counter(metrics.ProjectorParked, "h"),
		held:       reg.Counter(metrics.ProjectorHeld, "h"),
		gapRetries: reg.Counter(metrics.ProjectorGapRetries, "h"),
		lag:        reg.Gauge(metrics.ProjectionLastLag, "h"),
		newest:     reg.Gauge(metrics.ProjectionNewest, "h"),
	}
	reg.Gauge(testEventsBacklog, "h").Set(12)
	reg.Gauge(testCommandsBacklog, "h").Set(1)
	reg.Gauge(testParkedNow, "h").Set(1)
	r.sides.With("command", "api").Add(5)
	r.sides.With("command", "ui").Add(2)
	r.sides.With("query", "api").Add(7)
	r.bus.With("accepted").Add(3)
	r.bus.With("applied").Add(2)
	r.bus.With("rejected").Add(1)
	r.published.Add(40)
	r.applied.Add(38)
	r.duplicate.Add(2)
	r.parked.Add(1)
	r.held.Add(2)
	r.gapRetries.Add(4)
	r.lag.Set(0.25)
	r.newest.Set(float64(time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC).Unix()))
	return r
}

// newLiveServer runs stages 0 to 3 (stage 3 a fake too, reporting its
// figures from reg) with stage active, counting into reg.
func newLiveServer(t *testing.T, active int, reg *metrics.Registry) *Server {
	t.Helper()
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 1: fakeStage{}, 2: fakeStage{}, 3: liveStage{reg: reg}}, active)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Metrics: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// liveStats maps each stat's key to its value, delta and detail.
func liveStats(doc *goquery.Document) map[string][3]string {
	out := map[string][3]string{}
	doc.Find(`[data-testid="live-stat"]`).Each(func(_ int, s *goquery.Selection) {
		out[s.AttrOr("data-key", "")] = [3]string{
			strings.TrimSpace(s.Find(`[data-testid="live-value"]`).Text()),
			strings.TrimSpace(s.Find(`[data-testid="live-delta"]`).Text()),
			strings.TrimSpace(s.Find(`[data-testid="live-detail"]`).Text()),
		}
	})
	return out
}

func flowsOf(doc *goquery.Document) []string {
	return strings.Fields(doc.Find(`[data-testid="live-panel"]`).AttrOr("data-flows", "?"))
}

func TestTheLiveFragmentShowsStageThreesNumbersFromTheRegistry(t *testing.T) {
	r := newLiveRegistry()
	s := newLiveServer(t, 3, r.reg)

	status, doc := get(t, s, "/architecture/live?stage=3")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	assertNoInlineStyleOrScript(t, doc)
	got := liveStats(doc)
	want := map[string][3]string{
		"commands":          {"7", "", "API 5 · UI 2"},
		"queries":           {"7", "", "API 7 · UI 0"},
		"commands-accepted": {"3", "", "queued, answered 202"},
		"commands-applied":  {"2", "", "1 rejected"},
		"commands-backlog":  {"1", "", "order-commands"},
		"events-published":  {"40", "", "by the relay"},
		"events-applied":    {"38", "", "applied to the read DB"},
		"events-duplicate":  {"2", "", "redeliveries ignored"},
		"events-backlog":    {"12", "", "order-events"},
		"projection-lag":    {"250 ms", "", "oldest event not yet in the read DB"},
		"events-parked-now": {"1", "", "in the error log, waiting for a replay"},
		"events-held-now":   {"0", "", "behind a parked event of their order"},
		"events-parked":     {"1", "", "by this process, after their retries"},
		"events-held":       {"2", "", "by this process, behind a parked event"},
		"gap-retries":       {"4", "", "arrived before their turn"},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if v := got["read-side-newest"][0]; v != "14:05:09 UTC" {
		t.Errorf("read side up to %q, want 14:05:09 UTC", v)
	}
	if !doc.Find(`[data-key="events-parked-now"]`).HasClass("live-stat-warn") {
		t.Error("an event parked now is not marked as a warning")
	}
	for _, k := range []string{"events-parked", "events-held", "events-held-now"} {
		if doc.Find(`[data-key="` + k + `"]`).HasClass("live-stat-warn") {
			t.Errorf("%s is marked as a warning: it needs no attention", k)
		}
	}
	if f := flowsOf(doc); len(f) != 0 {
		t.Errorf("flows %v on a panel without earlier counts; want none", f)
	}
}

func TestTheStageThreePageHasTheLivePanelWhichMarksTheFlowsThatMoved(t *testing.T) {
	r := newLiveRegistry()
	// Nothing waits: the panel tells only what moves.
	for _, g := range []string{testEventsBacklog, testCommandsBacklog, testParkedNow} {
		r.reg.Gauge(g, "h").Set(0)
	}
	s := newLiveServer(t, 3, r.reg)

	_, page := get(t, s, "/architecture")
	panel := page.Find(`.arch-layout [data-testid="live-panel"]`)
	if panel.Length() != 1 {
		t.Fatal("no live panel in the page's layout")
	}
	if panel.AttrOr("hx-trigger", "") != "every 2s" || panel.AttrOr("hx-swap", "") != "outerHTML" {
		t.Errorf("the panel polls with hx-trigger %q, hx-swap %q", panel.AttrOr("hx-trigger", ""), panel.AttrOr("hx-swap", ""))
	}
	next := panel.AttrOr("hx-get", "")
	if !strings.HasPrefix(next, "/architecture/live?") {
		t.Fatalf("the panel polls %q", next)
	}
	// Every flow the panel can name is drawn in stage 3's diagram.
	drawn := map[string]bool{}
	page.Find(`[data-flow]`).Each(func(_ int, s *goquery.Selection) {
		for _, f := range strings.Fields(s.AttrOr("data-flow", "")) {
			drawn[f] = true
		}
	})
	for _, f := range []string{flowCommand, flowQuery, flowCommandSync, flowCommandBus, flowWrite, flowRelay, flowProject} {
		if !drawn[f] {
			t.Errorf("no arrow or box of stage 3's diagram carries the flow %q", f)
		}
	}

	// Nothing moved: nothing marked.
	_, doc := get(t, s, next)
	if f := flowsOf(doc); len(f) != 0 {
		t.Errorf("flows %v when nothing moved", f)
	}
	if txt := doc.Find(`[data-testid="live-flow-text"]`).Text(); !strings.HasPrefix(txt, "Idle") {
		t.Errorf("flow text %q when nothing moved", txt)
	}

	// A synchronous command went through and its events reached the bus;
	// the projector has not applied them yet.
	next = doc.Find(`[data-testid="live-panel"]`).AttrOr("hx-get", "")
	r.sides.With("command", "api").Inc()
	r.published.Add(3)
	_, doc = get(t, s, next)
	got := flowsOf(doc)
	for _, f := range []string{flowCommand, flowCommandSync, flowWrite, flowRelay} {
		if !slices.Contains(got, f) {
			t.Errorf("flows %v lack %q", got, f)
		}
	}
	for _, f := range []string{flowQuery, flowCommandBus, flowProject} {
		if slices.Contains(got, f) {
			t.Errorf("flows %v have %q, which did not move", got, f)
		}
	}
	if d := liveStats(doc)["events-published"]; d[0] != "43" || d[1] != "+3" {
		t.Errorf("published %q, want 43 +3", d)
	}
	if txt := doc.Find(`[data-testid="live-flow-text"]`).Text(); txt != "Moving: commands, events published." {
		t.Errorf("flow text %q", txt)
	}

	// Then the command bus and the projector.
	next = doc.Find(`[data-testid="live-panel"]`).AttrOr("hx-get", "")
	r.sides.With("command", "ui").Inc()
	r.bus.With("accepted").Inc()
	r.applied.Inc()
	_, doc = get(t, s, next)
	got = flowsOf(doc)
	for _, f := range []string{flowCommand, flowCommandBus, flowProject} {
		if !slices.Contains(got, f) {
			t.Errorf("flows %v lack %q", got, f)
		}
	}
	for _, f := range []string{flowCommandSync, flowWrite, flowRelay} {
		if slices.Contains(got, f) {
			t.Errorf("flows %v have %q, which did not move (the command was queued, not applied)", got, f)
		}
	}
}

func TestTheLivePanelOfStagesZeroToTwoCountsRequestsBySide(t *testing.T) {
	reg := metrics.NewRegistry()
	s := newLiveServer(t, 1, reg)

	// Real requests: the fake stage answers 404, but they were asked.
	for _, r := range []struct{ method, target string }{
		{http.MethodPost, "/api/commands/place-order"},
		{http.MethodGet, "/api/queries/order-summaries"},
		{http.MethodGet, "/api/queries/dashboard"},
	} {
		req := httptest.NewRequest(r.method, r.target, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_, page := get(t, s, "/architecture")
	got := liveStats(page)
	if got["commands"][0] != "1" || got["queries"][0] != "2" {
		t.Errorf("commands %q, queries %q; want 1 and 2", got["commands"], got["queries"])
	}
	if _, ok := got["events-published"]; ok {
		t.Error("stage 1's panel shows stage 3's event numbers")
	}

	_, doc := get(t, s, "/architecture/live?stage=0")
	if l := doc.Find(`[data-key="commands"] dt`).Text(); l != "Writes" {
		t.Errorf("stage 0 calls its commands %q, want Writes", l)
	}
	if doc.Find(`[data-testid="live-preview-note"]`).Length() != 1 {
		t.Error("stage 0's panel while stage 1 runs does not say it is a preview")
	}
}

func TestAPreviewOfStageThreeShowsTheNumbersButMovesNothing(t *testing.T) {
	r := newLiveRegistry()
	s := newLiveServer(t, 2, r.reg)

	_, page := get(t, s, "/architecture?stage=3")
	panel := page.Find(`[data-testid="live-panel"]`)
	if panel.Length() != 1 || panel.Find(`[data-testid="live-preview-note"]`).Length() != 1 {
		t.Fatal("stage 3's preview has no live panel saying it is a preview")
	}
	r.published.Inc()
	_, doc := get(t, s, panel.AttrOr("hx-get", ""))
	if f := flowsOf(doc); len(f) != 0 {
		t.Errorf("a preview marks flows %v", f)
	}
	if v := liveStats(doc)["events-published"][0]; v != "41" {
		t.Errorf("published %q, want 41", v)
	}
}

func TestTheLiveFragmentRefusesUnknownStagesAndIgnoresBadCounts(t *testing.T) {
	s := newLiveServer(t, 3, newLiveRegistry().reg)
	for _, target := range []string{"/architecture/live?stage=9", "/architecture/live?stage=x"} {
		if status, _ := get(t, s, target); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, status)
		}
	}
	status, doc := get(t, s, "/architecture/live?stage=3&c=abc&ep=NaN&q=%00")
	if status != http.StatusOK {
		t.Fatalf("bad counts: %d, want 200", status)
	}
	if f := flowsOf(doc); len(f) != 0 {
		t.Errorf("flows %v from counts that are not numbers", f)
	}
}

func TestRequestSides(t *testing.T) {
	for _, c := range []struct{ method, path, side, via string }{
		{"POST", "/api/commands/ship-order", "command", "api"},
		{"GET", "/api/queries/orders/1", "query", "api"},
		{"GET", "/api/orders", "query", "api"},
		{"PUT", "/api/orders/1", "command", "api"},
		{"DELETE", "/api/orders/1", "command", "api"},
		{"POST", "/orders", "command", "ui"},
		{"POST", "/orders/1/ship", "command", "ui"},
		{"GET", "/orders", "query", "ui"},
		{"GET", "/orders/1", "query", "ui"},
		{"GET", "/dashboard", "query", "ui"},
		{"GET", "/orders/new", "", ""},
		{"GET", "/orders/new/line", "", ""},
		{"GET", "/architecture/live", "", ""},
		{"GET", "/api/admin/error-log", "", ""},
		{"GET", "/api/ordersx", "", ""},
		{"GET", "/static/app.css", "", ""},
	} {
		side, via := requestSide(c.method, c.path)
		if side != c.side || via != c.via {
			t.Errorf("%s %s = %q, %q; want %q, %q", c.method, c.path, side, via, c.side, c.via)
		}
	}
}

// TestTheLivePanelSaysWhatWaitsAndWhy: work that waits is not "idle";
// the panel says what waits and what holds it back.
func TestTheLivePanelSaysWhatWaitsAndWhy(t *testing.T) {
	r := newLiveRegistry()
	s := newLiveServer(t, 3, r.reg)
	set := func(g string, v float64) { r.reg.Gauge(g, "h").Set(v) }
	for _, g := range []string{testEventsBacklog, testCommandsBacklog, testParkedNow} {
		set(g, 0)
	}
	_, doc := get(t, s, "/architecture/live?stage=3")
	next := doc.Find(`[data-testid="live-panel"]`).AttrOr("hx-get", "")

	tests := []struct {
		name  string
		set   map[string]float64
		wants []string
	}{
		{"commands_queued_while_the_write_database_is_down", map[string]float64{testCommandsBacklog: 20, testWriteDown: 1},
			[]string{"Waiting: 20 commands queued, write DB down."}},
		{"events_on_the_bus_while_the_projector_is_paused", map[string]float64{testEventsBacklog: 150, testProjectorPaused: 1},
			[]string{"Waiting: 150 events on the bus, projector paused."}},
		{"changes_held_by_a_paused_relay", map[string]float64{testUnpublished: 30, testRelayPaused: 1},
			[]string{"Waiting: relay paused: 30 changes not published."}},
		{"an_event_parked_now", map[string]float64{testParkedNow: 1},
			[]string{"Waiting: 1 entry parked in the error log."}},
		{"several_at_once", map[string]float64{testCommandsBacklog: 2, testUnpublished: 3, testEventsBacklog: 4},
			[]string{"Waiting: 2 commands queued; 3 changes not published yet; 4 events on the bus."}},
	}
	all := []string{testCommandsBacklog, testWriteDown, testEventsBacklog, testProjectorPaused, testUnpublished, testRelayPaused, testParkedNow}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, g := range all {
				set(g, tc.set[g])
			}
			_, doc := get(t, s, next)
			next = doc.Find(`[data-testid="live-panel"]`).AttrOr("hx-get", "")
			txt := strings.TrimSpace(doc.Find(`[data-testid="live-flow-text"]`).Text())
			for _, w := range tc.wants {
				if txt != w {
					t.Errorf("flow text %q, want %q", txt, w)
				}
			}
		})
	}

	// Nothing waits any more: idle.
	for _, g := range all {
		set(g, 0)
	}
	_, doc = get(t, s, next)
	if txt := doc.Find(`[data-testid="live-flow-text"]`).Text(); !strings.HasPrefix(txt, "Idle") {
		t.Errorf("flow text %q when nothing moved and nothing waits", txt)
	}
}

// TestParkedNowAndParkedEverAreApart: an event parked once and replayed
// since is counted, but only one parked now asks for attention.
func TestParkedNowAndParkedEverAreApart(t *testing.T) {
	r := newLiveRegistry()
	r.reg.Gauge(testParkedNow, "h").Set(0)
	s := newLiveServer(t, 3, r.reg)
	_, doc := get(t, s, "/architecture/live?stage=3")
	got := liveStats(doc)
	if got["events-parked-now"] != [3]string{"0", "", "none: nothing waits for a replay"} {
		t.Errorf("parked now %q", got["events-parked-now"])
	}
	if got["events-parked"][0] != "1" {
		t.Errorf("parked since start %q, want 1", got["events-parked"])
	}
	if n := doc.Find(`.live-stat-warn`).Length(); n != 0 {
		t.Errorf("%d figures marked as warnings with nothing parked now", n)
	}
	labels := doc.Find(`[data-key="events-parked"] dt`).Text() + " / " + doc.Find(`[data-key="events-parked-now"] dt`).Text()
	if labels != "Parked since start / Parked now" {
		t.Errorf("labels %q", labels)
	}
}
